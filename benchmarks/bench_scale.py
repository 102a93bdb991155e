"""Election scale: encryption and verification per selection, whole records, tally, Dask.

    .venv/bin/python benchmarks/bench_scale.py             # the default run (~11 min quiet)
    .venv/bin/python benchmarks/bench_scale.py --build     # first run: also builds the
                                                           # 10^4 record (+ ~5.5 min, once)
    .venv/bin/python benchmarks/bench_scale.py --quick     # core and 10^3 only (~3 min)
    .venv/bin/python benchmarks/bench_scale.py --json-record  # + the 10^3 record in JSON
    .venv/bin/python benchmarks/bench_scale.py --sizes 100000 --build --no-dask \
        --no-electionguard                                 # the opt-in 10^5 run (hours cold)
    .venv/bin/python benchmarks/bench_scale.py --json      # figures as JSON on stdout

A missing cached record of 10^4 ballots or more is built only with ``--build`` (the
default run says so and leaves that size out rather than run silently long); the 10^3
record (≈ 1 min to build) is built when missing. Before each timed child run the
benchmark waits for a quiet machine, at most ``--patience`` seconds over the whole run.

All on the standard 4096-bit group, ballots of 10 contests × 4 candidates, vote for 1.

* core (``paperchain.benchcore``): per selection, in units of one ``powmod`` of the same
  run — encryption (bulk, and online with a precomputed pool), verification from payload
  bytes (a batch, one ballot alone, the simple reference path), fixed-base table sizes;
* ElectionGuard 1.4.0 on the same 100 ballots, per ballot (its per-selection figures
  count one placeholder selection per contest): ``benchmarks/electionguard_side.py`` run
  by the Python 3.10 interpreter of ``benchmarks/cache/eg-venv`` (created on first use:
  ``electionguard==1.4.0 dacite==1.6.0 hypothesis``), beside Paperchain on the same
  ballots in this process;
* records of 10^3 and 10^4 cast ballots (opt-in 10^5), built once into
  ``benchmarks/cache/scale-record-*.bin`` (compact payloads; with ``--json-record`` the
  10^3 record in JSON too; one device per 500 ballots), their devices' ballots in turn
  as on an election day (``*-interleaved.bin``, derived from the device-by-device build;
  ``--layout sequential`` runs that one): in a
  fresh child process, the whole-record verification (``RecordVerifier``, a local
  process pool of 2 workers) and then, in the same process, the tally — the pass every
  trustee runs, reusing this process's verdicts (``tally_pass_*``) — then the decryption
  by 2 of 3 trustees (``tally_*`` covers both); wall time, CPU and peak memory (main
  process and each worker, VmHWM; and the whole job's — main and workers together, the
  sum of their proportional set sizes, sampled 5 times a second: ``tally_peak_job_pss_mib``);
* Dask: the 10^3 record verified on a local cluster of 1, 2 and 4 worker processes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CACHE = ROOT / "benchmarks" / "cache"
EG_PYTHON = Path("/root/.pyenv/versions/3.10.13/bin/python")
EG_VENV = CACHE / "eg-venv"


# --- peak memory --------------------------------------------------------------------------


def _hwm_kib(pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (from /proc/PID/stat)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _workers_cpu_s(pids: Callable[[], list[int]]) -> float:
    """The workers' user + system CPU seconds so far: those running now (/proc) and those
    that have exited and been waited for (this process's children's times: the workers a
    ``LocalPool`` let go of when it renewed them)."""
    times = os.times()
    return times.children_user + times.children_system + sum(_cpu_s(p) for p in pids())


def _disk_read_mib() -> float:
    """MiB this process has read from storage so far (page-cache hits are not counted)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/io").read_text().splitlines():
            if line.startswith("read_bytes:"):
                return int(line.split()[1]) / 2**20
    return 0.0


def _reset_hwm(pid: int | str = "self") -> None:
    with contextlib.suppress(OSError):  # not Linux: the peak then covers both passes
        Path(f"/proc/{pid}/clear_refs").write_text("5")


_SHM = "/dev/shm/"  # only read: which mapped files live in shared memory


def _pss_kib(pid: int | str) -> tuple[int, dict[str, int]]:
    """A process's proportional set size in KiB (/proc/PID/smaps) without its mappings of
    files in shared memory — each page it shares counted once across the processes sharing
    it, not once in each — and, per shared-memory file it maps, its resident KiB there."""
    pss, shared = 0, {}
    path = ""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
            if line[:1] in "0123456789abcdef" and "-" in line.split(" ", 1)[0]:
                fields = line.split(maxsplit=5)
                path = fields[5] if len(fields) == 6 else ""
            elif line.startswith("Pss:") and not path.startswith(_SHM):
                pss += int(line.split()[1])
            elif line.startswith("Rss:") and path.startswith(_SHM):
                shared[path] = shared.get(path, 0) + int(line.split()[1])
    return pss, shared


def _shared_kib(mapped: dict[str, int]) -> int:
    """The shared-memory files the job maps, each counted once, at the space allocated to
    it (``e2e.arena`` reserves a slot's whole size: pages no process has touched are
    still the machine's); a file removed while still mapped, at its most resident."""
    total = 0
    for path, resident in mapped.items():
        try:
            total += os.stat(path).st_blocks // 2
        except OSError:  # "… (deleted)"
            total += resident
    return total


class JobMemory:
    """The peak memory of a whole job — this process and its workers together — sampled
    every ``interval`` seconds from ``start`` to ``stop``.

    Per-process peaks (VmHWM) count the pages shared by the processes (libraries, the
    shared-memory chunks of ``e2e.arena``) once in each; the sum of proportional set
    sizes counts each page once, so it is what the machine gives the job — with the
    shared-memory files the job maps counted apart, at their allocated size
    (``_shared_kib``). ``at_peak`` splits the peak: main and workers without shared
    memory, and the shared memory. A sample is taken at the end too, so a job shorter
    than ``interval`` is still measured. The workers are asked for at each sample
    (``pids``): a renewed pool's are new ones. ``worker_hwm_kib``: the largest worker's
    peak (VmHWM) seen — all ``job=False`` samples (a verification's, hours at 10^6).
    ``where``: if given, each sample is also counted under what it returns then (e.g. the
    tenth of the record a pass is in), and ``peak_by_where`` keeps each one's peak."""

    def __init__(self, pids: Callable[[], list[int]], interval: float = 0.2, *,
                 job: bool = True, where: Callable[[], int] | None = None) -> None:
        self._pids = pids  # the workers now (a renewed pool's change)
        self._job = job  # False: only the workers' peaks (cheap: no smaps read)
        self._where = where
        self.peak_by_where: dict[int, int] = {}
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="job-memory", daemon=True)
        self.peak_kib = 0
        self.at_peak: dict[str, int] = {}  # the peak's sample: main, workers, shared memory
        self.worker_hwm_kib = 0  # the largest worker's peak (VmHWM) seen

    def start(self) -> JobMemory:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    def _sample(self) -> None:
        workers = self._pids()
        for pid in workers:
            with contextlib.suppress(OSError):  # (gone meanwhile)
                self.worker_hwm_kib = max(self.worker_hwm_kib, _hwm_kib(pid))
        if not self._job:
            return
        sizes = [_pss_kib(pid) for pid in ["self", *workers]]
        mapped: dict[str, int] = {}
        for _, files in sizes:
            for path, resident in files.items():
                mapped[path] = max(resident, mapped.get(path, 0))
        shared = _shared_kib(mapped)
        total = sum(pss for pss, _ in sizes) + shared
        if self._where is not None:
            where = self._where()
            self.peak_by_where[where] = max(total, self.peak_by_where.get(where, 0))
        if total > self.peak_kib:
            self.peak_kib = total
            self.at_peak = {"main": sizes[0][0], "workers": sum(pss for pss, _ in sizes[1:]),
                            "shared_memory": shared}


# --- records --------------------------------------------------------------------------------


def _record_path(size: int, compact: bool, layout: str = "sequential") -> Path:
    suffix = "" if layout == "sequential" else f"-{layout}"
    return CACHE / f"scale-record-{size}{'' if compact else '-json'}{suffix}.bin"


def _election(size: int):  # -> SyntheticElection
    from e2e.group import STANDARD
    from paperchain.benchcore import bench_manifest
    from tests.perf.ledgers import SyntheticElection
    return SyntheticElection.create(STANDARD, bench_manifest(), devices=max(2, size // 500))


BUILD_FREELY = 1000  # records up to this size are built when missing; larger need --build


class RecordMissing(Exception):
    """A cached record too large to build without ``--build``."""


LAYOUTS = ("interleaved", "sequential")


def ensure_record(size: int, compact: bool = True, workers: int = 2,
                  build: bool = True, layout: str = "sequential", *,
                  election_of: Callable[[int], Any] = _election,
                  path_of: Callable[[int, bool, str], Path] = _record_path) -> Path:
    """The cached record of ``size`` cast ballots (built once: hours at 10^5).

    ``layout``: "sequential" — each device's ballots together, as ``bulk_chains`` builds
    them; "interleaved" — the devices in turn, as on an election day, derived from the
    sequential record (``interleave_record``: minutes at 10^5, every entry unchanged).
    ``election_of`` (the ``SyntheticElection`` of a size) and ``path_of`` (where a record
    goes) give records of other shapes (``build_scale_record.py``)."""
    from tests.perf.ledgers import envelopes_of, interleave_record, write_envelopes
    path = path_of(size, compact, layout)
    if path.exists():
        return path
    if layout == "interleaved":
        started = time.perf_counter()
        interleave_record(ensure_record(size, compact, workers, build, election_of=election_of,
                                        path_of=path_of), path)
        print(f"interleaved {path.name} in {time.perf_counter() - started:.0f} s",
              file=sys.stderr)
        return path
    if not build and size > BUILD_FREELY:
        raise RecordMissing(
            f"{path.relative_to(ROOT)} is not built: building it takes about "
            f"{size * 0.032 / 60:.0f} min of both cores here (32 ms per ballot, measured at "
            f"10^3); run once with --build to build it and include {size} ballots")
    path.parent.mkdir(parents=True, exist_ok=True)
    election = election_of(size)
    devices = sorted(election.device_keys)
    counts = {d: size // len(devices) + (1 if i < size % len(devices) else 0)
              for i, d in enumerate(devices)}
    started = time.perf_counter()
    print(f"building {path.name} ({size} ballots, {len(devices)} devices) ...", file=sys.stderr)
    partial = path.with_suffix(".partial")
    with ProcessPoolExecutor(max_workers=workers) as pool:
        entries = [*election.opening_entries()]
        chains = election.bulk_chains(counts, pool, compact=compact)

        def stream():
            yield from entries
            yield from chains
            yield from election.closing_entries()

        write_envelopes(partial, envelopes_of(stream()))
    partial.rename(path)
    print(f"built {path.name} in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return path


def verify_child(path: Path, workers: int, scheduler: str | None, tally: bool,
                 profile: Path | None = None, repeat: int = 0) -> dict[str, Any]:
    """In a fresh process: verify the record, then (optionally) tally it as a trustee would.

    ``repeat``: after the measured tally, that many more tally passes, each timed
    (``tally_pass_repeats``: wall, main and workers' CPU) — on a host whose speed drifts
    by minutes, several passes after one verification show the spread
    (``--child RECORD 2 - tally - N``).

    ``profile``: after the measured tally, one more tally pass under ``cProfile`` (this
    process's main thread), its statistics written there — to see where a pass's time
    goes at a scale no other run reaches (``--child RECORD 2 - tally PROFILE``)."""
    from e2e.group import STANDARD
    from e2e.parallel import local_pool
    from e2e.trustee import KeyShare
    from e2e.verdicts import VerdictCache
    from e2e.verify import RecordVerifier
    from tally.decrypt import combine, compute_share
    from tests.perf.ledgers import read_envelopes

    if scheduler is not None:
        from distributed import Client, LocalCluster
        cluster = (LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                dashboard_address=None) if scheduler == "local" else None)
        client = Client(cluster if cluster is not None else scheduler)
        executor: Any = client.get_executor()
        in_flight = 2 * workers
    else:
        executor = local_pool(workers)  # as the verifier's own pool (e2e.parallel)
        in_flight = 2 * workers
    verdicts = VerdictCache()

    def fresh_verifier() -> RecordVerifier:
        """A pass of its own, sharing this process's verdicts (the tally reuses them)."""
        return RecordVerifier(None, executor=executor, chunk_size=64, in_flight=in_flight,
                              verdicts=verdicts)

    result: dict[str, Any] = {"record": path.name, "workers": workers,
                              "executor": f"dask {scheduler}" if scheduler else "process pool"}
    # The local pool's workers now, for the samplers: the pool renews them where a pass
    # that checked proofs ends (e2e.parallel.LocalPool), so the tally's are new ones.
    # (A Dask cluster's workers are not this process's children: nothing to sum.)
    pids: Callable[[], list[int]] = getattr(executor, "worker_pids", list)
    local = scheduler is None
    try:
        started, cpu = time.perf_counter(), time.process_time()
        read_before = _disk_read_mib()
        worker_cpu = _workers_cpu_s(pids) if local else 0.0
        verify_job = JobMemory(pids, job=False).start() if local else None
        verifier = fresh_verifier()
        report = verifier.run(read_envelopes(path))
        result["verify_wall_s"] = round(time.perf_counter() - started, 2)
        result["verify_disk_read_mib"] = round(_disk_read_mib() - read_before)
        result["verify_main_cpu_s"] = round(time.process_time() - cpu, 2)
        result["ballots"] = verifier.aggregate.ballots
        result["findings"] = len(report.findings)
        result["verdict"] = "valid" if report.ok else "INVALID"
        result["verify_peak_main_mib"] = round(_hwm_kib() / 1024, 1)
        if scheduler is not None:
            result["verify_workers_cpu_s"] = round(sum(client.run(
                lambda: os.times().user + os.times().system).values()), 1)
        if verify_job is not None:
            verify_job.stop()
            result["verify_peak_worker_mib"] = round(verify_job.worker_hwm_kib / 1024, 1)
            result["verify_workers_cpu_s"] = round(_workers_cpu_s(pids) - worker_cpu, 1)
            result["worker_renewals"] = getattr(executor, "renewals", 0)
        result["load_average"] = os.getloadavg()[0]
        if tally and report.ok and verifier.context is not None:
            # The trustees' key shares (the synthetic election is fixed by its seeds).
            script = _election(verifier.aggregate.ballots).script
            key_shares = {i: script.key_share(i) for i in (1, 3)}
            for pid in ["self", *pids()]:  # (none after a renewal: they start with the pass)
                _reset_hwm(pid)
            job = JobMemory(pids).start() if local else None
            started, cpu = time.perf_counter(), time.process_time()
            worker_cpu = _workers_cpu_s(pids) if local else 0.0
            read_before = _disk_read_mib()
            again = fresh_verifier()
            second = again.run(read_envelopes(path))
            context = again.context
            if context is None or again.voting_close_index is None or not second.ok:
                raise RuntimeError("the tally pass does not verify")
            if again.aggregate.totals != verifier.aggregate.totals:
                raise RuntimeError("the tally pass recomputed other totals")
            result["tally_pass_wall_s"] = round(time.perf_counter() - started, 2)
            result["tally_pass_disk_read_mib"] = round(_disk_read_mib() - read_before)
            result["tally_pass_main_cpu_s"] = round(time.process_time() - cpu, 2)
            if local:
                result["tally_pass_workers_cpu_s"] = round(
                    _workers_cpu_s(pids) - worker_cpu, 1)
            aggregate = again.aggregate
            targets = [(c, s, aggregate.total(context, c, s))
                       for c, contest in enumerate(context.manifest.contests)
                       for s in range(len(contest.selections))]
            shares = [compute_share(KeyShare(i, key_shares[i],
                                             context.extended_base_hash, context.joint_key),
                                    context, "tally@bench", targets) for i in (1, 3)]
            counts = combine(context, shares, targets, dict(aggregate.ballots_per_contest))
            result["tally_wall_s"] = round(time.perf_counter() - started, 2)
            result["tally_main_cpu_s"] = round(time.process_time() - cpu, 2)
            if local:
                result["tally_workers_cpu_s"] = round(_workers_cpu_s(pids) - worker_cpu, 1)
            result["tally_peak_main_mib"] = round(_hwm_kib() / 1024, 1)
            if job is not None:
                job.stop()
                result["tally_peak_worker_mib"] = round(job.worker_hwm_kib / 1024, 1)
                result["tally_peak_job_pss_mib"] = round(job.peak_kib / 1024, 1)
                result["tally_job_pss_at_peak_mib"] = {
                    part: round(kib / 1024, 1) for part, kib in job.at_peak.items()}
            result["tally_votes"] = sum(n for _, _, _, n in counts)
            repeats = []
            for _ in range(repeat):
                started, cpu = time.perf_counter(), time.process_time()
                workers_before = _workers_cpu_s(pids) if local else 0.0
                if not fresh_verifier().run(read_envelopes(path)).ok:
                    raise RuntimeError("a repeated tally pass does not verify")
                repeats.append({"wall_s": round(time.perf_counter() - started, 2),
                                "main_cpu_s": round(time.process_time() - cpu, 2),
                                "workers_cpu_s": round(_workers_cpu_s(pids)
                                                       - workers_before, 1)})
            if repeats:
                result["tally_pass_repeats"] = repeats
            if profile is not None:
                import cProfile
                profiler = cProfile.Profile()
                started = time.perf_counter()
                profiler.enable()
                fresh_verifier().run(read_envelopes(path))
                profiler.disable()
                result["profiled_tally_pass_wall_s"] = round(time.perf_counter() - started, 2)
                profiler.dump_stats(str(profile))
        result["group"] = STANDARD.name
    finally:
        if scheduler is not None:
            client.close()
            if cluster is not None:
                cluster.close()
        else:
            executor.shutdown()
    return result


PATIENCE = 60.0  # seconds of waiting for a quiet machine left for the whole run


def wait_for_quiet(limit: float = 0.5) -> float:
    """Wait until the 1-minute load average is below ``limit``, within what is left of
    ``PATIENCE`` (one budget for the whole run, so waiting cannot blow ``make bench``'s
    time): on a shared machine another job's processes take the cores a parallel run is
    timed on. Returns the load average when the run starts (reported with its figures)."""
    global PATIENCE
    started = time.monotonic()
    while os.getloadavg()[0] >= limit and time.monotonic() - started < PATIENCE:
        time.sleep(5)
    PATIENCE = max(0.0, PATIENCE - (time.monotonic() - started))
    return round(os.getloadavg()[0], 2)


def run_child(*args: str, timeout: float = 4 * 3600) -> dict[str, Any]:
    load = wait_for_quiet()
    completed = subprocess.run([sys.executable, __file__, "--child", *args], cwd=ROOT,
                               capture_output=True, text=True, timeout=timeout, check=False)
    if completed.returncode != 0:
        return {"error": completed.stderr.strip().splitlines()[-1:] or ["failed"]}
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    result["load_average_at_start"] = load
    return result


# --- ElectionGuard --------------------------------------------------------------------------


def electionguard(ballots: int) -> dict[str, Any]:
    python = EG_VENV / "bin" / "python"
    if not python.exists():
        if not EG_PYTHON.exists():
            return {"error": f"{EG_PYTHON} not found (ElectionGuard 1.4.0 needs Python 3.10)"}
        subprocess.run([str(EG_PYTHON), "-m", "venv", str(EG_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "electionguard==1.4.0",
                        "dacite==1.6.0", "hypothesis"], check=True)
    completed = subprocess.run([str(python), str(ROOT / "benchmarks" / "electionguard_side.py"),
                                "--ballots", str(ballots)], capture_output=True, text=True,
                               timeout=3600, check=False)
    if completed.returncode != 0:
        return {"error": completed.stderr.strip()[-300:]}
    return json.loads(completed.stdout.strip().splitlines()[-1])


def paperchain_same_ballots(ballots: int) -> dict[str, Any]:
    """Paperchain on the ballots ElectionGuard gets, per ballot, in this process."""
    from e2e.ballot import encrypt_ballot
    from e2e.fixedbase import prepare
    from e2e.group import STANDARD
    from e2e.voting import CastBallot, check_cast_payloads
    from paperchain.benchcore import bench_manifest, one_vote_each, synthetic_context

    context = synthetic_context(STANDARD, bench_manifest())
    prepare(STANDARD, STANDARD.g, context.joint_key.value)
    marked = [one_vote_each(context.manifest, "all", n) for n in range(ballots)]
    started = time.process_time()
    encrypted = [encrypt_ballot(context, m, device_id="kiosk-1", session="bench",
                                sequence=n + 1, previous_code=bytes(32)).ballot
                 for n, m in enumerate(marked)]
    encrypt = time.process_time() - started
    payloads = [(CastBallot(b).to_payload(compact=True), "payload") for b in encrypted]
    started = time.process_time()
    checked = check_cast_payloads(context, payloads)
    verify = time.process_time() - started
    if any(c.decode_error or c.verify_error for c in checked):
        raise RuntimeError("an honest ballot failed")
    started = time.process_time()
    for payload in payloads[:10]:
        check_cast_payloads(context, [payload])
    single = (time.process_time() - started) / 10
    return {"ballots": ballots, "encrypt_ms_per_ballot": encrypt / ballots * 1e3,
            "verify_batch_ms_per_ballot": verify / ballots * 1e3,
            "verify_one_by_one_ms_per_ballot": single * 1e3}


# --- the run --------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    global PATIENCE
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--quick", action="store_true", help="core and 10^3 only")
    parser.add_argument("--sizes", default=None,
                        help="comma-separated record sizes (default 1000,10000)")
    parser.add_argument("--workers", type=int, default=2, help="verification worker processes")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="verify the records on this Dask scheduler's workers (they become "
                             "part of the verifier's trusted base)")
    parser.add_argument("--no-dask", action="store_true", help="skip the Dask runs")
    parser.add_argument("--no-electionguard", action="store_true", help="skip ElectionGuard")
    parser.add_argument("--no-wait", action="store_true",
                        help="do not wait for a quiet machine before each timed run")
    parser.add_argument("--patience", type=float, default=PATIENCE, metavar="SECONDS",
                        help="most seconds spent waiting for a quiet machine over the whole "
                             "run (default %(default)s)")
    parser.add_argument("--build", action="store_true",
                        help="build missing cached records of 10^4 ballots or more (the "
                             "10^4 one takes several minutes; 10^5 hours)")
    parser.add_argument("--layout", choices=LAYOUTS, default="interleaved",
                        help="the records' order of devices: in turn, as on an election day "
                             "(default), or each device's ballots together")
    parser.add_argument("--json-record", action="store_true",
                        help="also verify and tally the 10^3 record in JSON payloads")
    parser.add_argument("--dask-only", action="store_true", help="only the Dask runs")
    parser.add_argument("--child", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    PATIENCE = 0.0 if args.no_wait else args.patience

    if args.child is not None:
        path, workers, scheduler, tally, *extra = args.child
        profile = extra[0] if extra and extra[0] != "-" else None
        result = verify_child(Path(path), int(workers), None if scheduler == "-" else scheduler,
                              tally == "tally", Path(profile) if profile else None,
                              int(extra[1]) if len(extra) > 1 else 0)
        print(json.dumps(result))
        return 0

    if args.dask_only:
        path = ensure_record(1000, layout=args.layout)
        runs = [run_child(str(path), str(k), "local", "-") for k in (1, 2, 4)]
        print(json.dumps({"dask": runs}, indent=1))
        return 0

    from paperchain.benchcore import measure_core

    sizes = [int(s) for s in (args.sizes or ("1000" if args.quick else "1000,10000")).split(",")]
    report: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python "
                   f"{platform.python_version()}",
        "core": measure_core(rounds=2 if args.quick else 3, quick=args.quick),
    }
    if not args.quick and not args.no_electionguard:
        report["electionguard"] = electionguard(100)
        report["paperchain_same_ballots"] = paperchain_same_ballots(100)
    records: list[dict[str, Any]] = []
    for size in sizes:
        try:
            path = ensure_record(size, build=args.build, layout=args.layout)
        except RecordMissing as missing:
            print(f"left out: {missing}", file=sys.stderr)
            records.append({"record": f"{size} ballots", "skipped": str(missing)})
            continue
        records.append(run_child(str(path), str(args.workers), args.scheduler or "-", "tally"))
        if size == 1000 and args.json_record:
            json_record = ensure_record(size, compact=False, layout=args.layout)
            records.append(run_child(str(json_record), str(args.workers), "-", "tally"))
    report["records"] = records
    if not args.no_dask and not args.quick:
        path = ensure_record(1000, layout=args.layout)
        report["dask"] = [run_child(str(path), str(k), "local", "-") for k in (1, 2, 4)]
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        _print(report)
    return 0


def _print(report: dict[str, Any]) -> None:
    core = report["core"]
    print(f"# Scale ({report['machine']}; 1 powmod = {core['powmod_ms']:.3f} ms)")
    for key in ("encrypt", "encrypt_online", "pool_fill", "verify", "verify_json",
                "verify_single", "verify_simple"):
        print(f"{key:>16}: {core[f'{key}_units_per_selection']:6.3f} units/selection  "
              f"({core[f'{key}_ms_per_selection']:.3f} ms)")
    for table in core["fixed_base_tables"]:
        print(f"  window {table['window']:2d}: {table['units_per_exponentiation']:.3f} units, "
              f"{table['mib']} MiB, built in {table['build_ms']} ms")
    if "electionguard" in report:
        print("ElectionGuard:", json.dumps(report["electionguard"]))
        print("Paperchain, same ballots:", json.dumps(report["paperchain_same_ballots"]))
    for record in report.get("records", []):
        print("record:", json.dumps(record))
    for run in report.get("dask", []):
        print("dask:", json.dumps(run))


if __name__ == "__main__":
    sys.exit(main())
