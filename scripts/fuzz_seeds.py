"""Seed corpora for the libFuzzer harnesses in fuzz/ (docs/fuzzing.md).

Usage: python scripts/fuzz_seeds.py OUT_DIR [--lancer BIN]

Writes OUT_DIR/<harness>/ with seeds from the repository's fixtures (tests/data/) and from small
datasets written here by pylance (data files of format 2.0, 2.1 and 2.2, deletions, stable row
ids, appends, updates, compaction, IVF_FLAT/SQ/PQ and IVF_HNSW_SQ indexes). With --lancer, a
lancer build run phase by phase adds its staging records, model.bin, spill files and index.
"""

import argparse
import hashlib
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DIM = 16
ROWS = 600


class Corpus:
    def __init__(self, out: Path):
        self.out = out

    def add(self, harness: str, data: bytes):
        d = self.out / harness
        d.mkdir(parents=True, exist_ok=True)
        (d / hashlib.sha1(data).hexdigest()).write_bytes(data)

    def add_file(self, harness: str, path: Path, prefix: bytes = b""):
        self.add(harness, prefix + path.read_bytes())


def fixtures(c: Corpus):
    data = REPO / "tests" / "data"
    for root in sorted((data / "reader").glob("*.lance")):  # datasets of every file version
        collect_dataset(c, root)
    for f in sorted((data / "reader").glob("*.npy")):
        c.add_file("npy", f)
    for f in sorted((data / "lance" / "deletion").glob("*.arrow")):
        c.add_file("deletion_arrow", f)
    for f in sorted((data / "lance" / "deletion").glob("*.bin")):
        c.add_file("deletion_roaring", f)
    for f in sorted((data / "lance" / "roaring").glob("*.bin")):
        c.add_file("deletion_roaring", f)
    for f in sorted((data / "lance" / "row_ids").glob("*.pb")):
        rows = int(f.with_suffix(".expected").read_text().split()[1])  # "physical_rows N"
        c.add_file("row_ids", f, struct.pack("<I", rows))


def bitpacking(c: Corpus):
    # [mode][u32 count][width][bytes]: inline blocks carry their width word first.
    rng = np.random.default_rng(7)
    for t, bits in enumerate((8, 16, 32, 64)):
        for width in (1, 3, bits // 2, bits):
            words = 1024 * width // bits
            block = np.zeros(1 + words, dtype=f"<u{bits // 8}")
            block[0] = width
            block[1:] = rng.integers(0, 2**min(bits, 63), size=words, dtype=np.uint64).astype(block.dtype)
            for count in (1024, 700):
                head = struct.pack("<BIB", (t << 1) | 1, count, 0)
                c.add("bitpacking", head + block.tobytes())
                c.add("bitpacking", struct.pack("<BIB", t << 1, count, width) + block[1:].tobytes())


def npy(c: Corpus, tmp: Path):
    for name, arr in (("f4", np.arange(64, dtype="<f4").reshape(4, 16)), ("u1", np.arange(12, dtype="u1")),
                      ("f2", np.ones((2, 3), dtype="<f2")), ("u8", np.arange(5, dtype="<u8"))):
        p = tmp / f"{name}.npy"
        np.save(p, arr)
        c.add_file("npy", p)


def vectors(rows, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((rows, DIM)).astype(np.float32)


def table(rows, seed, start=0):
    import pyarrow as pa

    v = vectors(rows, seed)
    return pa.table({"id": pa.array(np.arange(start, start + rows, dtype=np.int64)),
                     "vector": pa.FixedSizeListArray.from_arrays(pa.array(v.reshape(-1)), DIM)})


def pylance_datasets(c: Corpus, tmp: Path):
    import lance

    roots = []
    for version, stable in (("2.0", False), ("2.1", True), ("2.2", False)):
        root = tmp / f"ds_{version}"
        ds = lance.write_dataset(table(ROWS, 1), root, data_storage_version=version, enable_stable_row_ids=stable)
        ds = lance.write_dataset(table(200, 2, ROWS), root, mode="append")
        ds.delete("id % 7 = 0")
        ds.update({"id": "id + 0"}, where="id < 10")
        for kind, extra in (("IVF_PQ", {"num_sub_vectors": 4}), ("IVF_SQ", {}), ("IVF_FLAT", {}),
                            ("IVF_HNSW_SQ", {})):
            try:
                ds.create_index("vector", kind, name=f"{kind.lower()}_idx", num_partitions=4, **extra)
            except Exception as e:  # an index type this pylance lacks: the others still seed
                print(f"fuzz_seeds: {kind} on {version}: {e}", file=sys.stderr)
        if version == "2.0":
            ds.optimize.compact_files(target_rows_per_fragment=2000)
        roots.append(root)
    return roots


def collect_dataset(c: Corpus, root: Path):
    for f in sorted((root / "_versions").glob("*.manifest")):
        c.add_file("manifest", f)
    for f in sorted((root / "_transactions").glob("*.txn")):
        for shape in (0x01, 0x29, 0xff):  # indexed field 1, covering different fragments
            c.add_file("transaction", f, bytes([shape]))
    for f in sorted((root / "data").glob("*.lance")):
        for h in ("lance_file", "vector_page", "scalar_pages"):
            c.add_file(h, f)
    for f in sorted((root / "_deletions").glob("*.arrow")):
        c.add_file("deletion_arrow", f)
    for f in sorted((root / "_deletions").glob("*.bin")):
        c.add_file("deletion_roaring", f)
    for d in sorted((root / "_indices").glob("*")):
        index = d / "index.idx"
        if not index.exists():
            continue
        aux = d / "auxiliary.idx"
        index_bytes = index.read_bytes()
        aux_bytes = aux.read_bytes() if aux.exists() else b""
        # Column type byte: f32 (element 0), dimension 16 (kDims[1]).
        c.add("index_segment", bytes([1 << 2]) + struct.pack("<I", len(index_bytes)) + index_bytes + aux_bytes)
        for f in (index, aux):
            if f.exists():
                for h in ("lance_file", "scalar_pages"):
                    c.add_file(h, f)


def lancer_build(c: Corpus, lancer: str, tmp: Path):
    import lance

    root = tmp / "ds_lancer"
    lance.write_dataset(table(ROWS, 3), root, max_rows_per_file=200)
    staging = tmp / "staging"
    common = ["--column", "vector", "--index-type", "IVF_PQ", "--num-partitions", "4", "--num-sub-vectors", "4",
              "--work-dir", str(staging)]
    plan = subprocess.run([lancer, "plan", str(root), *common], check=True, capture_output=True, text=True)
    tasks = int(plan.stdout.split()[0]) if plan.stdout.split()[0].isdigit() else 1
    subprocess.run([lancer, "train", str(root), *common], check=True, capture_output=True)
    for t in range(tasks):
        subprocess.run([lancer, "build-task", str(root), *common, "--task", str(t)], check=True, capture_output=True)
    for f in sorted(staging.rglob("*")):
        if not f.is_file():
            continue
        if f.name == "model.bin":
            c.add_file("model_bin", f)
        elif f.suffix in (".json", ".done") or f.name.endswith(".done"):
            # Mode 0 feeds the bytes as they are; mode 1/2 the body, re-checksummed by the harness.
            body = f.read_bytes().rsplit(b"\n", 2)[0] + b"\n"
            c.add_file("staging_record", f, b"\0")
            c.add("staging_record", (b"\1" if f.name == "build.json" else b"\2") + body)
        elif f.suffix == ".run":
            # IVF_PQ with 4 sub-vectors of 8 bits: 4-byte rows, 4 partitions.
            c.add_file("spill", f, struct.pack("<HH", 4 - 1, 4 - 1))
    subprocess.run([lancer, "finalize", str(root), *common], check=True, capture_output=True)
    collect_dataset(c, root)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--lancer")
    args = ap.parse_args()
    out = Path(args.out)
    c = Corpus(out)
    fixtures(c)
    bitpacking(c)
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        npy(c, tmp)
        for root in pylance_datasets(c, tmp):
            collect_dataset(c, root)
        if args.lancer:
            lancer_build(c, args.lancer, tmp)
    for d in sorted(out.iterdir()):
        print(f"{d.name}: {len(list(d.iterdir()))} seeds")


if __name__ == "__main__":
    main()
