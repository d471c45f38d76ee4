"""Bad input: fuzzing every writable sysfs attribute and the scenario loader.

* **sysfs** — a host with an mdev in use by guest g1, which runs its own vfio_ap with
  a nested guest, gets sequences of writes to *every* writable attribute of both
  Linuxes (``/sys/bus/ap/{apmask, aqmask, ap_domain, config_time, poll_thread,
  poll_timeout, scans}``, driver ``bind``/``unbind``, card ``config``/``online``/
  ``request_count``, queue ``reset``/``online``/``request_count``, the mdev type's
  ``create``, every mdev attribute, ``remove``) with well-formed values, mutated ones
  and random text. A write either succeeds or raises ``SysfsError`` whose errno is a
  real errno and whose message names the path; a rejected write changes nothing
  (:meth:`World.write` compares a snapshot of masks, bindings, every mdev's
  ``matrix``/``guest_matrix``/``control_domains``/``ap_config`` and every guest's
  APCB); the isolation invariants hold afterwards; every readable attribute reads
  as text or fails with ``SysfsError``.
* **scenario loader** — shipped scenario files and samples are mutated as text
  (lines dropped or duplicated, characters inserted, replaced or deleted, values
  swapped for junk) and loaded from a temporary file: the result is a Scenario or a
  ``ScenarioError`` whose message starts with ``file:line:``; ``apsim validate``
  exits 0 or 2 and never prints a traceback; a mutated file that still validates
  also runs (``apsim run --until``) to exit 0, 1 or 2.
"""

from __future__ import annotations

import contextlib
import io
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apsim.errors import ScenarioError, SysfsError
from apsim.scenario.loader import load_scenario
from tests.property.test_isolation_world import (CREATE, MATRIX, NUUIDS, SOAK, UUIDS, World, hang_guard,
                                                 mask_hex, phases)

ROOT = Path(__file__).resolve().parents[2]
FUZZ = settings(max_examples=2000 if SOAK else 150, deadline=None, derandomize=not SOAK, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much], phases=phases())

# --- text mutation ---------------------------------------------------------------------------------
ODD = "\n\x00,+-x0Xf9 \t:#'\"{}[]é\u2028&*!|>"


@st.composite
def mutated(draw, seed: str) -> str:  # noqa: ANN001
    """*seed* with one to four random edits (insert, delete, replace, duplicate a slice)."""
    s = seed
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(s)))
        op = draw(st.sampled_from(("ins", "del", "rep", "dup")))
        c = draw(st.one_of(st.sampled_from(ODD), st.characters(codec="utf-8")))
        if op == "ins":
            s = s[:i] + c + s[i:]
        elif op == "del":
            s = s[:i] + s[i + 1:]
        elif op == "rep":
            s = s[:i] + c + s[i + 1:]
        else:
            j = draw(st.integers(i, min(len(s), i + 12)))
            s = s[:j] + s[i:j] + s[j:]
    return s


# --- sysfs ----------------------------------------------------------------------------------------------
def seeds_for(path: str) -> list[str]:
    """Well-formed values for an attribute (by its name)."""
    name = path.rsplit("/", 1)[1]
    if name in ("apmask", "aqmask"):
        return ["+1\n", "-1,-2\n", "0x" + "f" * 64 + "\n", mask_hex({1, 3}) + "\n", "-0-255\n", "+3-5\n"]
    if name == "ap_domain":
        return ["3\n", "5", "0x11\n", "99\n"]
    if name == "config_time":
        return ["5\n", "30\n", "120\n", "4\n", "121\n"]
    if name == "poll_timeout":
        return ["250000\n", "120000000000\n", "120000000001\n"]
    if name in ("poll_thread", "online", "config"):
        return ["1\n", "0\n", "y\n", "off\n"]
    if name in ("scans", "reset", "request_count", "remove"):
        return ["1\n", "0\n"]
    if name in ("bind", "unbind"):
        return ["01.0003\n", "card01\n", "41.0011\n", "02.0005"]
    if name == "create":
        return [u + "\n" for u in (*UUIDS, *NUUIDS)]
    if name.endswith(("adapter", "domain")):
        return ["1\n", "0x41\n", "3\n", "017\n", "+5", "70\n", "71\n"]
    if name == "ap_config":
        return [",".join(mask_hex(s) for s in ({1, 2}, {3, 5}, {7})) + "\n", "0x,0x,0x\n"]
    return ["1\n"]


def writable(w: World) -> list[tuple[str, str]]:
    """(level, path) of every writable attribute of both Linuxes, in a stable order."""
    out = []
    for level in ("host", "g1"):
        lx = w.linux(level)
        if lx is not None:
            # The Sysfs object offers no public walk over its attributes (links make the
            # tree cyclic), so the registry is read directly.
            out += sorted((level, p) for p, a in lx.sysfs._attrs.items() if a.write is not None)
    return out


def fuzz_world() -> World:
    """An mdev in use by g1, which runs its own vfio_ap and a nested guest; g3 runs too."""
    w = World(workload=False)
    all_ids = set(range(256))
    w.set_mask("host", "apmask", "-1,-2,-65\n", all_ids - {1, 2, 65})
    for i, (adapters, domains) in enumerate((((1, 65), (3, 17)), ((2,), (3, 5)))):
        w.create_mdev("host", UUIDS[i] + "\n")
        for a in adapters:
            w.assign("host", "adapter", UUIDS[i], f"{a}\n", a)
        for d in domains:
            w.assign("host", "domain", UUIDS[i], f"{d}\n", d)
    w.start("g1", UUIDS[0])
    w.start("g3", UUIDS[1])
    w.setup_nested([1], [3])
    return w


WRITE = st.tuples(st.integers(0, 10_000), st.integers(0, 2), st.data())


@FUZZ
@given(writes=st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 3)), min_size=1, max_size=8),
       data=st.data())
def test_sysfs_writes_never_escape_and_a_rejection_changes_nothing(writes, data):
    with hang_guard(60):
        w = fuzz_world()
        for pick, how in writes:
            targets = writable(w)
            level, path = targets[pick % len(targets)]
            if w.linux(level) is None:
                continue
            seeds = seeds_for(path)
            if how == 0:
                value = data.draw(st.sampled_from(seeds), label="value")
            elif how in (1, 2):
                value = data.draw(mutated(data.draw(st.sampled_from(seeds))), label="value")
            else:
                value = data.draw(st.text(max_size=40), label="value")
            w.write(level, path, value)  # asserts errno and "nothing changed" on rejection
            w._gap()
            w.check()
        w.settle()
        w.check()
        for level in ("host", "g1"):
            lx = w.linux(level)
            if lx is None:
                continue
            for p, a in sorted(lx.sysfs._attrs.items()):
                if a.read is None:
                    continue
                try:
                    assert isinstance(lx.read(p), str)
                except SysfsError as e:
                    assert e.errno and e.errno > 0, (p, e)


@FUZZ
@given(level=st.sampled_from(("host", "g1")), name=st.sampled_from(
    ("assign_adapter", "unassign_adapter", "assign_domain", "unassign_domain", "assign_control_domain",
     "unassign_control_domain", "ap_config", "remove")), value=st.text(max_size=70))
def test_random_text_to_an_mdev_attribute(level, name, value):
    w = fuzz_world()
    uuid = UUIDS[0] if level == "host" else NUUIDS[0]
    got = w.write(level, f"{MATRIX}/{uuid}/{name}", value)
    if got not in ("ok", "empty"):  # "empty": a zero-length write, which reaches no store
        assert got in ("EINVAL", "ERANGE", "ENODEV", "EADDRNOTAVAIL", "EADDRINUSE"), (name, value, got)
    w._gap()
    w.check()


@FUZZ
@given(value=st.one_of(st.text(max_size=40), mutated(UUIDS[2] + "\n")))
def test_random_text_to_mdev_create(value):
    w = fuzz_world()
    got = w.write("host", CREATE, value)
    assert got in ("ok", "empty", "EINVAL", "EEXIST"), (value, got)


# --- scenario loader ---------------------------------------------------------------------------
def _samples() -> list[str]:
    texts = [p.read_text(encoding="utf-8") for p in sorted((ROOT / "scenarios").glob("*.yaml"))
             if p.stat().st_size < 20_000]
    try:
        from tests.unit import scenario_samples as s

        texts += [v for k, v in vars(s).items() if k.isupper() and isinstance(v, str) and "duration" in v]
    except ImportError:  # pragma: no cover - the unit tests are not shipped with the package
        pass
    return texts


SAMPLES = _samples()
JUNK_VALUES = ("-1", "0x", "[", "{", "nan", "1e999", "~", "&a", "*a", "!!python/object:os.system", "''",
               "99999999999999999999", "0x1ff", "05.00zz", "ms", "-5ms", "true", "{a: [}", "\t")


@st.composite
def mutated_yaml(draw) -> str:  # noqa: ANN001
    text = draw(st.sampled_from(SAMPLES))
    lines = text.splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 3))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(("drop", "dup", "value", "chars", "indent")))
        if op == "drop":
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "value" and ":" in lines[i]:
            key = lines[i].split(":", 1)[0]
            lines[i] = f"{key}: {draw(st.sampled_from(JUNK_VALUES))}\n"
        elif op == "indent":
            lines[i] = " " * draw(st.integers(0, 5)) + lines[i].lstrip(" ")
        else:
            lines[i] = draw(mutated(lines[i]))
    return "".join(lines)


@contextlib.contextmanager
def scenario_file(text: str):  # noqa: ANN201
    """(path, Scenario or ScenarioError) for *text* written to a temporary file."""
    with tempfile.TemporaryDirectory(prefix="apsim-fuzz-") as d:
        path = Path(d) / "fuzzed.yaml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            res: object = load_scenario(path)
        except ScenarioError as e:
            res = e
        yield path, res


@FUZZ
@given(text=st.one_of(mutated_yaml(), mutated_yaml(), st.text(max_size=200)))
def test_loader_answers_a_scenario_or_a_located_error(text):
    with scenario_file(text) as (path, res):
        check_located(path, res)


def check_located(path: Path, res: object) -> None:
    if isinstance(res, ScenarioError):
        msg = str(res)
        assert res.file == str(path) and msg.startswith(f"{path}:"), msg
        assert res.line is not None and res.line >= 1, f"no line in {msg!r}"
        assert "Traceback" not in msg and res.rule.strip(), msg


@settings(FUZZ, max_examples=300 if SOAK else 40)
@given(text=mutated_yaml())
def test_cli_validate_and_run_exit_cleanly_on_mutated_scenarios(text):
    with scenario_file(text) as (path, res):
        cli_validate_and_run(path, res)


def cli_validate_and_run(path: Path, res: object) -> None:
    from apsim.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["validate", str(path)])
    assert code == (2 if isinstance(res, ScenarioError) else 0), (code, err.getvalue())
    assert "Traceback" not in err.getvalue()
    if code == 2:
        assert err.getvalue().startswith(f"apsim: error: {path}:"), err.getvalue()
        return
    out, err = io.StringIO(), io.StringIO()
    with hang_guard(60), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["run", str(path), "--until", "2ms"])
    assert code in (0, 1, 2), code
    assert "Traceback" not in err.getvalue()
    if code == 2:
        assert err.getvalue().startswith("apsim: error:"), err.getvalue()
