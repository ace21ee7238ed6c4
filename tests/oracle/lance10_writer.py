"""Second oracle: write fixture datasets with an *older* pylance (10.0.0).

Run with the interpreter of `.venv-lance10` (one process can import only one
`lance`), e.g.

    .venv-lance10/bin/python tests/oracle/lance10_writer.py OUTDIR SPECS.json

SPECS.json is a list of `MatrixSpec` dicts (see datasets.py).  For each spec
this writes OUTDIR/<spec id>.lance plus, beside it, the exact values written
(`.values.npy`, `.mask.npy`), the live rows as Lance 10 reports them
(`.live_ids.npy`, `.live_addrs.npy`) and `.meta.json`.  OUTDIR/_done.json
lists what was written; a failure for one spec is recorded there and does
not stop the others.
"""

import json
import os
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import lance  # noqa: E402
import numpy as np  # noqa: E402

import datasets as D  # noqa: E402


def main(outdir: str, specs_path: str) -> int:
    with open(specs_path) as fh:
        specs = [D.MatrixSpec.from_json(s) for s in json.load(fh)]
    os.makedirs(outdir, exist_ok=True)
    done = {"lance_version": lance.__version__, "written": [], "failed": {}}
    t0 = time.time()
    for spec in specs:
        name = spec.id
        uri = os.path.join(outdir, f"{name}.lance")
        try:
            ds, values, mask = D.write_matrix_dataset(lance, spec, uri)
            live = D.live_rows(ds)
            # sanity: Lance 10 reads back what was written
            ids, vecs = D.vectors_via_lance(ds, "vector", spec.dtype, spec.dim)
            exp_ids = live["ids"][~mask[live["ids"]]]
            if not (np.array_equal(ids, exp_ids) and vecs.tobytes() == values[exp_ids].tobytes()):
                raise AssertionError("pylance 10 does not read back the written values")
            D.save_written(outdir, name, values, mask, live, {
                "spec": spec.to_json(),
                "lance_version": lance.__version__,
                "data_storage_version": ds.data_storage_version,
                "version": ds.version,
            })
            done["written"].append(name)
        except Exception:  # record and continue
            done["failed"][name] = traceback.format_exc()
    done["seconds"] = round(time.time() - t0, 2)
    with open(os.path.join(outdir, "_done.json"), "w") as fh:
        json.dump(done, fh, indent=1)
    print(json.dumps({k: (len(v) if isinstance(v, (list, dict)) else v) for k, v in done.items()}))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
