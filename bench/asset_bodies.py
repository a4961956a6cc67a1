"""Asset body lengths: lines of each asset function's body (docstring left out), per asset.

Run: `python bench/asset_bodies.py [REF]`. With a git ref (e.g. `main`) the table shows that
revision's lengths beside the working tree's. Goal: each asset body one domain call plus
metadata (a handful of lines); policy, storage and formatting live in functions of their own.
"""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ASSETS = "alchemiser_dagster/pipeline/assets"


def _is_asset(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return isinstance(target, ast.Attribute) and target.attr == "asset"


def body_lengths(sources: dict[str, str]) -> dict[str, int]:
    """asset function name -> lines of its body without the docstring."""
    lengths: dict[str, int] = {}
    for source in sources.values():
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef) and any(_is_asset(d) for d in node.decorator_list):
                body = node.body
                if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                    body = body[1:]
                last = body[-1].end_lineno or body[-1].lineno
                lengths[node.name] = last - body[0].lineno + 1
    return lengths


def working_tree() -> dict[str, str]:
    return {str(p): p.read_text() for p in sorted((ROOT / ASSETS).glob("*.py"))}


def at_revision(ref: str) -> dict[str, str]:
    names = subprocess.run(
        ["git", "ls-tree", "--name-only", f"{ref}:{ASSETS}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    return {
        name: subprocess.run(
            ["git", "show", f"{ref}:{ASSETS}/{name}"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
        for name in names
        if name.endswith(".py")
    }


def main() -> None:
    now = body_lengths(working_tree())
    before = body_lengths(at_revision(sys.argv[1])) if len(sys.argv) > 1 else {}
    print(f"{'asset':<24}" + (f"{sys.argv[1]:>8}" if before else "") + f"{'now':>6}")
    for name in sorted(now.keys() | before.keys()):
        was = f"{before.get(name, '-'):>8}" if before else ""
        print(f"{name:<24}{was}{now.get(name, '-'):>6}")


if __name__ == "__main__":
    main()
