"""Regenerate the Python code of the gRPC contract: `python proto/generate.py [OUT_DIR]`.

Runs `python -m grpc_tools.protoc` in a subprocess: importing grpc_tools.protoc and
ortools in one process aborts Python (DESIGN.md section 9), so nothing that may have
ortools loaded imports it. Compiled with `-Iproto` so the generated modules import each
other as `orbitalsched.v1.x_pb2`, the package installed from this directory.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parent
PROTO_FILES = ("jobs.proto", "agent.proto", "cluster.proto")
PACKAGE_DIR = Path("orbitalsched") / "v1"


def generate(out_dir: Path = PROTO_ROOT) -> list[Path]:
    """Compile the .proto files into out_dir/orbitalsched/v1; returns the files written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    sources = [str(PACKAGE_DIR / name) for name in PROTO_FILES]
    cmd = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *sources,
    ]
    result = subprocess.run(cmd, cwd=PROTO_ROOT, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"protoc failed ({result.returncode}): {result.stderr.strip()}")
    written = []
    for name in PROTO_FILES:
        stem = name.removesuffix(".proto")
        for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py"):
            written.append(out_dir / PACKAGE_DIR / f"{stem}{suffix}")
    return written


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else PROTO_ROOT
    for path in generate(out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
