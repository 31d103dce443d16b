"""`handbook eval`: run question sets, compare configurations, write a report folder, gate on the floors.

The shell in handbook/cli.py registers it.
"""
from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import click

from assistant.settings import RETRIEVAL_MODES


@click.command("eval")
@click.argument("sets", nargs=-1)
@click.option("--compare", is_flag=True,
              help="Also run the other retrieval modes (dense, bm25, hybrid) and the plain llama-index baseline.")
@click.option("--threshold", "thresholds", multiple=True, type=float,
              help="Add a configuration with this refusal threshold (repeatable).")
@click.option("--retrieval", type=click.Choice(RETRIEVAL_MODES), default=None, help="Retrieval mode to evaluate.")
@click.option("--top-k", type=int, default=None, help="Passages retrieved per question (also the k of hit@k).")
@click.option("--refusal-threshold", type=float, default=None, help="Refusal threshold to evaluate.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Report folder (default: <data dir>/reports/eval-<time>).")
@click.option("--gate", is_flag=True,
              help="Check the test sets (test, blind-test, blind2-test, blind3-test) against evals/floors.json; "
                   "exit 1 below a floor.")
@click.option("--calibrate", is_flag=True,
              help="Choose the refusal threshold on the dev set and record it with the model "
                   "(assistant/model/calibration.json).")
@click.option("--from-log", "from_log", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the chat log's thumbs-down answers to this JSONL file as draft questions, and stop.")
@click.option("--progress/--no-progress", default=None, help="Progress bar (default: when stderr is a terminal).")
@click.pass_context
def eval_command(ctx: click.Context, sets: tuple[str, ...], compare: bool, thresholds: tuple[float, ...],
                 retrieval: str | None, top_k: int | None, refusal_threshold: float | None, out_dir: Path | None,
                 gate: bool, calibrate: bool, from_log: Path | None, progress: bool | None) -> None:
    """Run question SETS (names like dev/test, or JSONL paths; default: test) and write a report.

    The test set is never tuned on: use dev for tuning and --calibrate. --from-log drafts questions from
    thumbs-down answers: review each (covered? key facts?) before adding it to the dev set."""
    from assistant.command import settings_from
    from assistant.errors import HandbookError
    from assistant.index.store import has_index

    from . import gate as gate_mod
    from .report import summary_table, write_report
    from .runner import QuestionSetError, compare_configs, find_run, run_configs

    try:
        settings = settings_from(ctx, retrieval=retrieval, top_k=top_k,
                                 refusal_threshold=refusal_threshold)
        if from_log is not None:
            from assistant.feedback_log import QaLog, export_thumbs_down

            log = QaLog.existing(settings)
            try:
                n = export_thumbs_down(log, from_log)
            finally:
                log.close()
            click.echo(f"Wrote {n} thumbs-down answer(s) to {from_log} as draft questions. Review each one (set "
                       "'covered', write 'key_facts', drop 'review'), then add it to evals/questions/dev.jsonl.")
            return
        if not has_index(settings):
            raise click.ClickException("Nothing is indexed yet: run `handbook ingest` first.")
        if calibrate:
            from .calibrate import CALIBRATION_FILE
            from .calibrate import calibrate as run_calibration

            record = run_calibration(settings)
            c = record["chosen"]
            click.echo(f"Refusal threshold {record['threshold']} on {record['set']} "
                       f"(refusal accuracy {c['refusal_accuracy']:.3f}, false refusals {c['false_refusal_rate']:.3f}, "
                       f"answer correctness {c['answer_correctness']:.3f}); by relation to the documents: "
                       + ", ".join(f"{k} {v}" for k, v in record["by_language"].items())
                       + f"; recorded in {CALIBRATION_FILE}.")
            if not sets and not gate:
                return
        names = list(sets) or ["test"]
        if gate:
            names += [s for s in gate_mod.gated_sets() if s not in names]
        configs = (compare_configs(settings, thresholds=thresholds) if compare
                   else compare_configs(settings, modes=(), thresholds=thresholds, baseline=False))
        result = run_configs(names, configs, progress=progress)
    except (HandbookError, QuestionSetError) as exc:
        raise click.ClickException(str(exc)) from None
    failures = None
    if gate:
        failures = []
        for set_name in gate_mod.gated_sets():
            run = find_run(result, set_name, configs[0].name)
            found = gate_mod.check(run["summary"], gate_mod.load_floors(set_name=set_name)) if run else ["did not run"]
            failures += [f"{set_name}: {f}" for f in found]
    out = out_dir or settings.home / "reports" / f"eval-{datetime.now():%Y%m%d-%H%M%S}"
    write_report(result, out, gate=failures)
    for set_name in result["sets"]:
        click.echo(f"\n{set_name}:\n{summary_table(result, set_name)}")
    click.echo(f"\nReport: {out / 'report.html'} (summary.md, results.json beside it)")
    if failures is not None:
        if failures:
            click.echo("Gate FAILED:\n" + "\n".join(f"  {f}" for f in failures), err=True)
            sys.exit(1)
        click.echo("Gate passed.")


@click.command("eval-diff")
@click.argument("before", type=click.Path(exists=True, path_type=Path))
@click.argument("after", type=click.Path(exists=True, path_type=Path))
def eval_diff_command(before: Path, after: Path) -> None:
    """Compare two eval runs (report folders or their results.json) question by question.

    Prints key facts, first sentence and correctness per set with the 95 % paired-bootstrap interval of the
    difference; * marks a difference whose interval leaves out zero."""
    from .significance import compare, difference_table, load_results

    try:
        differences = compare(load_results(before), load_results(after))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise click.ClickException(f"Cannot compare {before} and {after}: not two eval reports ({exc}).") from None
    if not differences:
        raise click.ClickException(f"{before} and {after} share no question set.")
    click.echo(difference_table(differences))
