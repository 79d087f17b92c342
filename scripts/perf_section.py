"""Write the README's performance section from `sisr bench --json` files.

Usage:
  sisr bench --vs-opencv --models fsrcnn espcn ... --json bench.json     (networks, OpenCV, matmul)
  sisr bench --memory --json memory.json                                (6000x6000 x2, 12000x12000 x4)
  sisr bench --batch 200 --json batch.json                              (200 photos 500x500 x2)
  sisr bench --whole-command --repeat 5 --json command.json             (whole commands, issue 19)
  .venv/bin/python scripts/perf_section.py bench.json memory.json batch.json [--write]
  .venv/bin/python scripts/perf_section.py command.json [--write]       (its own block of the section)
Each target of issues 7 and 19 is checked against the figures; a miss is named with its figure.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from readme_block import print_or_write
from sisr_core.bench import format_command_row, speed_ratio
from sisr_core.zoo import default_model

START, END = "<!-- perf:start -->", "<!-- perf:end -->"
COMMAND_START, COMMAND_END = "<!-- perf-command:start -->", "<!-- perf-command:end -->"
MEMORY_LIMIT_MB = {(6000, 2): 1.5 * 1024, (12000, 4): 3 * 1024}


def verdict(ok: bool, text: str) -> str:
    return f"meets: {text}" if ok else f"**miss**: {text}"


def network_lines(bench: dict) -> list[str]:
    default = default_model()
    lines = [f"{bench['size']}x{bench['size']} input, {bench['threads']} threads, best of the runs; "
             f"matrix multiply on this machine: fp32 **{bench['matmul_gflops']:.0f} GFLOP/s**, "
             f"bf16 {bench['bf16_matmul_gflops']:.0f} GFLOP/s. Our networks run in the precision `sisr upscale` "
             "uses by default here; \"of fp32 matmul\" is the issue's measure, \"of own\" compares with the "
             "matmul of the network's own precision.", "",
             "| network | scale | precision | seconds | output MP/s | GFLOP/s | of fp32 matmul | of own | peak MB | vs OpenCV |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in bench["rows"]:
        name = f"**{r['name']}** (default)" if r["name"] == default else r["name"]
        flops = (f"{r['gflops_per_s']:.1f} | {100 * r['fraction_of_matmul']:.0f}% | {100 * r['fraction_of_own_matmul']:.0f}%"
                 if r.get("gflop") else "- | - | -")
        ratio = f"ours {speed_ratio(r['ours_speedup'])}" if r.get("ours_speedup") else ""
        lines.append(f"| {name} | x{r['scale']} | {r.get('precision', 'fp32')} | {r['seconds']:.2f} | "
                     f"{r['output_mp_per_s']:.2f} | {flops} | {r['peak_mb']:.0f} | {ratio} |")
    lines.append("")
    for r in bench["rows"]:
        if r.get("ours_speedup"):
            lines.append(f"- {r['name']} x{r['scale']}: " + verdict(
                r["ours_speedup"] >= 2, f"ours is {speed_ratio(r['ours_speedup'])} (target: 2x faster)"))
    ours = next((r for r in bench["rows"] if r["name"] == default and r.get("gflop") and r["scale"] == 2), None)
    if ours:
        lines.append(f"- default network `{default}`: " + verdict(
            ours["fraction_of_matmul"] >= 0.5, f"{100 * ours['fraction_of_matmul']:.0f}% of fp32 matmul throughput "
            f"(target 50%; {100 * ours['fraction_of_own_matmul']:.0f}% of {ours.get('precision', 'fp32')} matmul)"))
    return lines


def memory_lines(memory: dict) -> list[str]:
    lines = []
    for r in memory["memory"]:
        limit = MEMORY_LIMIT_MB.get((r["size"], r["scale"]))
        text = (f"{r['size']}x{r['size']} x{r['scale']} ({r.get('model', '?')}) -> {r['output']} ({r['output_mb']:.0f} MB on disk): "
                f"peak RSS {r['peak_mb']:.0f} MB in {r['seconds']:.0f} s")
        lines.append("- " + (verdict(r["peak_mb"] <= limit, f"{text} (limit {limit:.0f} MB)") if limit else text))
    return lines


def batch_lines(batch: dict) -> list[str]:
    b = batch["batch"]
    text = (f"{b['count']} photos {b['size']}x{b['size']} x{b['scale']} ({b['model']}, {b['threads']} threads): "
            f"network alone {b['inference_seconds']:.1f} s, whole batch {b['batch_seconds']:.1f} s, "
            f"ratio {b['ratio']:.2f}")
    return ["- " + verdict(b["ratio"] <= 1.1, text + " (target 1.10)")]


def command_lines(command: dict) -> list[str]:
    lines = [f"Whole processes on {command['cpus']} cores, each pair of commands run in turn, medians:", ""]
    for row in command["commands"]:
        target = 0.5 if row["kind"] == "vs_opencv" else 1.3
        lines.append("- " + verdict(row["ratio"] <= target, format_command_row(row)))
    return lines


def section(datas: list[dict]) -> str:
    lines = []
    for data in datas:
        if "commands" in data:
            lines += command_lines(data)
        if "rows" in data:
            lines += network_lines(data)
        if "memory" in data:
            lines += memory_lines(data)
        if "batch" in data:
            lines += batch_lines(data)
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("json", type=Path, nargs="+", help="files written by sisr bench --json")
    p.add_argument("--write", action="store_true", help="replace the section in README.md")
    args = p.parse_args()
    datas = [json.loads(path.read_text()) for path in args.json]
    commands = [d for d in datas if "commands" in d]
    if commands:
        print_or_write(COMMAND_START, COMMAND_END, section(commands), args.write, "whole-command figures")
    if len(commands) < len(datas):
        print_or_write(START, END, section([d for d in datas if "commands" not in d]), args.write,
                       "performance section")


if __name__ == "__main__":
    main()
