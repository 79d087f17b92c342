"""Check a built SISR Studio bundle the way a user without Python would run it.

    python3 packaging/check_bundle.py ["dist/SISR Studio"] [--weights-dir DIR] [--launches 3] [--no-train]

Standard library only; copies nothing from the repository. The bundle is copied (hard links where
possible) into a fresh temporary folder (``--in-place`` runs it where it is) and run there with a
clean environment (the equivalent of ``env -i``): only HOME (the temporary folder), PATH=/usr/bin:/bin
and QT_QPA_PLATFORM=offscreen, plus SISR_WEIGHTS_DIR when ``--weights-dir`` is given (by default the
bundle's own ``weights/`` are used). Steps:

1. ``sisr --version`` prints the version;
2. ``sisr upscale`` and ``SISR Studio IMAGE --scale 2`` (main.py's command line) write a 2x image
   of a PNG this script generates, with the default network;
3. ``sisr upscale --weights`` runs a community model (a tiny Real-ESRGAN Compact .safetensors file this
   script writes), through spandrel inside the bundle, and ``sisr add-model`` installs it;
4. ``sisr train`` runs two training steps on generated images (skip with ``--no-train``);
5. ``SISR Studio`` with no arguments opens the window offscreen; ``SISR_EXIT_AFTER_SHOWN_MS`` makes
   it save a picture of the painted window and close itself. The time from launch to that picture
   is printed for each of ``--launches`` launches.

Exit status 0 only when every step passed.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

EXE = ".exe" if os.name == "nt" else ""


def write_png(path: Path, width: int, height: int, seed: int) -> None:
    """An RGB PNG with gradients and some texture, written without any imaging library."""
    rnd = random.Random(seed)
    rows = []
    for y in range(height):
        row = bytearray([0])
        for x in range(width):
            n = rnd.randrange(48)
            row += bytes(((x * 255 // width + n) % 256, (y * 255 // height + n) % 256, ((x ^ y) * 4 + n) % 256))
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"".join(rows)))
                     + chunk(b"IEND", b""))


def write_compact_safetensors(path: Path, feat: int = 4, scale: int = 2, seed: int = 0) -> None:
    """A random Real-ESRGAN Compact x``scale`` network (SRVGGNetCompact, one hidden conv) as a community
    safetensors file: a little-endian header length, the JSON header, then float32 tensors."""
    import json

    rnd = random.Random(seed)
    shapes = {"body.0.weight": (feat, 3, 3, 3), "body.0.bias": (feat,), "body.1.weight": (feat,),
              "body.2.weight": (feat, feat, 3, 3), "body.2.bias": (feat,), "body.3.weight": (feat,),
              "body.4.weight": (3 * scale * scale, feat, 3, 3), "body.4.bias": (3 * scale * scale,)}
    header, data = {}, b""
    for key, shape in shapes.items():
        count = 1
        for n in shape:
            count *= n
        values = struct.pack(f"<{count}f", *(rnd.uniform(-0.3, 0.3) for _ in range(count)))
        header[key] = {"dtype": "F32", "shape": list(shape), "data_offsets": [len(data), len(data) + len(values)]}
        data += values
    text = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG")
    return struct.unpack(">II", data[16:24])


class Checker:
    def __init__(self, bundle: Path, work: Path, weights_dir: str | None):
        self.bundle = bundle
        self.work = work
        self.env = {"HOME": str(work / "home"), "PATH": "/usr/bin:/bin", "QT_QPA_PLATFORM": "offscreen"}
        if os.name == "nt":  # Windows cannot start a process without these
            self.env.update({k: os.environ[k] for k in ("SYSTEMROOT", "TEMP", "TMP") if k in os.environ})
            self.env["USERPROFILE"] = self.env["HOME"]
        if weights_dir:
            self.env["SISR_WEIGHTS_DIR"] = str(Path(weights_dir).resolve())
        (work / "home").mkdir()
        self.failures: list[str] = []

    def exe(self, name: str) -> str:
        return str(self.bundle / f"{name}{EXE}")

    def run(self, title: str, args: list[str], timeout: float = 300, env: dict | None = None):
        start = time.perf_counter()
        proc = subprocess.run(args, cwd=self.work, env={**self.env, **(env or {})}, capture_output=True, text=True,
                              timeout=timeout)
        seconds = time.perf_counter() - start
        print(f"[{'ok' if proc.returncode == 0 else 'FAIL'}] {title} (exit {proc.returncode}, {seconds:.1f} s)")
        if proc.returncode != 0:
            self.failures.append(title)
            print(proc.stdout[-2000:], proc.stderr[-3000:], sep="\n")
        return proc

    def expect(self, title: str, ok: bool, detail: str = "") -> None:
        print(f"[{'ok' if ok else 'FAIL'}] {title}{': ' + detail if detail else ''}")
        if not ok:
            self.failures.append(title)

    def version(self) -> None:
        proc = self.run("sisr --version", [self.exe("sisr"), "--version"], timeout=120)
        text = proc.stdout.strip()
        self.expect("version printed", text.startswith("SISR Studio "), repr(text))

    def upscale(self) -> None:
        src = self.work / "in.png"
        write_png(src, 64, 48, seed=1)
        self.run("sisr upscale in.png --scale 2", [self.exe("sisr"), "upscale", "in.png", "--scale", "2", "-q"])
        out = self.work / "in_x2.png"
        self.expect("in_x2.png is 128x96", out.is_file() and png_size(out) == (128, 96),
                    f"{png_size(out) if out.is_file() else 'missing'}")
        if os.name == "nt":  # the windowed .exe has no console on Windows; sisr.exe is the command line
            return
        self.run("SISR Studio in.png --scale 2 (main.py command line)",
                 [self.exe("SISR Studio"), "in.png", "--scale", "2", "--suffix", "big"])
        out = self.work / "in_big(2x).png"
        self.expect("in_big(2x).png is 128x96", out.is_file() and png_size(out) == (128, 96),
                    f"{png_size(out) if out.is_file() else 'missing'}")

    def community(self) -> None:
        write_png(self.work / "small.png", 32, 24, seed=2)
        write_compact_safetensors(self.work / "2x-Tiny-Compact.safetensors")
        self.run("sisr upscale --weights 2x-Tiny-Compact.safetensors (a community model, via spandrel)",
                 [self.exe("sisr"), "upscale", "small.png", "--weights", "2x-Tiny-Compact.safetensors", "-s", "2", "-q"])
        out = self.work / "small_x2.png"
        self.expect("small_x2.png is 64x48", out.is_file() and png_size(out) == (64, 48),
                    f"{png_size(out) if out.is_file() else 'missing'}")
        self.run("sisr add-model 2x-Tiny-Compact.safetensors", [self.exe("sisr"), "add-model", "2x-Tiny-Compact.safetensors"])
        listed = self.run("sisr models", [self.exe("sisr"), "models"]).stdout
        self.expect("sisr models lists 2x-tiny-compact", "2x-tiny-compact" in listed and "Compact" in listed)

    def train(self) -> None:
        data = self.work / "train"
        data.mkdir()
        for i in range(4):
            write_png(data / f"{i}.png", 128, 128, seed=10 + i)
        self.run("sisr train --model fsrcnn --steps 2",
                 [self.exe("sisr"), "train", "--model", "fsrcnn", "--scale", "2", "--data", "train", "--steps", "2",
                  "--batch", "2", "--patch", "24", "--threads", "1", "--out", "run", "-q"])
        self.expect("run/final.safetensors written", (self.work / "run" / "final.safetensors").is_file())

    def window(self, launches: int, hold_ms: int) -> list[float]:
        times = []
        for i in range(launches):
            shot = self.work / f"shown{i}.png"
            env = {**self.env, "SISR_EXIT_AFTER_SHOWN_MS": str(hold_ms), "SISR_SHOWN_SCREENSHOT": str(shot)}
            start = time.perf_counter()
            proc = subprocess.Popen([self.exe("SISR Studio")], cwd=self.work, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
            shown = None
            while time.perf_counter() - start < 180:
                if shot.is_file() and shot.stat().st_size > 0:
                    shown = time.perf_counter() - start
                    break
                if proc.poll() is not None:
                    break
                time.sleep(0.01)
            try:
                out, err = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
            ok = shown is not None and proc.returncode == 0
            detail = f"window shown after {shown:.2f} s, {png_size(shot)[0]}x{png_size(shot)[1]} px" if shown else "never shown"
            self.expect(f"launch {i + 1}: SISR Studio opens its window", ok, f"{detail}; exit {proc.returncode}")
            if out.strip():
                print("    " + out.strip().replace("\n", "\n    "))
            if ok and "resources found" not in out and os.name != "nt":  # Windows: no stdout from the windowed exe
                self.expect(f"launch {i + 1}: resources found in the bundle", False, out.strip())
            if not ok:
                print(err[-3000:])
            else:
                times.append(shown)
        return times


def main(argv: list[str] | None = None) -> int:
    root = Path(__file__).resolve().parent.parent
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("bundle", nargs="?", default=str(root / "dist" / "SISR Studio"), help="the one-folder bundle")
    p.add_argument("--weights-dir", default=None, help="SISR_WEIGHTS_DIR for the bundle (default: its own weights/)")
    p.add_argument("--launches", type=int, default=3, help="window launches to time")
    p.add_argument("--hold-ms", type=int, default=1000, help="how long the window stays open")
    p.add_argument("--no-train", action="store_true", help="skip the two-step training run")
    p.add_argument("--keep", action="store_true", help="keep the temporary folder")
    p.add_argument("--in-place", action="store_true", help="run the bundle where it is instead of a moved copy")
    args = p.parse_args(argv)

    bundle = Path(args.bundle).resolve()
    if not (bundle / f"sisr{EXE}").is_file():
        print(f"error: no bundle at {bundle} (run `make package` first)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="sisr-bundle-check-"))
    if not args.in_place:  # a copy (hard links where possible) proves no path points back to the build
        shutil.copytree(bundle, work / "bundle" / bundle.name, symlinks=True, copy_function=_link_or_copy)
        bundle = work / "bundle" / bundle.name
    print(f"bundle {bundle}\nwork folder {work}\nenvironment: only HOME, PATH, QT_QPA_PLATFORM"
          + (", SISR_WEIGHTS_DIR" if args.weights_dir else ""))
    checker = Checker(bundle, work, args.weights_dir)
    checker.version()
    checker.upscale()
    checker.community()
    if not args.no_train:
        checker.train()
    times = checker.window(args.launches, args.hold_ms)
    if times:
        print(f"launch to window shown: first {times[0]:.2f} s, best {min(times):.2f} s over {len(times)} launches")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print("PASSED" if not checker.failures else f"FAILED: {', '.join(checker.failures)}")
    return 0 if not checker.failures else 1


if __name__ == "__main__":
    sys.exit(main())
