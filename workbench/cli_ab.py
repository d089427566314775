"""The ``workbench ab`` commands: create, start, list, show, assign, record, weights, coverage, stop, sample-size."""

from __future__ import annotations

import argparse
from typing import Any

from workbench.config import Settings


def add_ab(commands: Any, common: argparse.ArgumentParser) -> None:
    """Add ``workbench ab`` and its commands to ``commands``."""
    ab = commands.add_parser("ab", help="A/B tests of models: create, assign, record outcomes, analyse and stop")
    ab.set_defaults(switch="ab_testing_enabled")
    sub = ab.add_subparsers(title="ab commands", metavar="COMMAND", required=True)

    create = sub.add_parser("create", parents=[common], help="create and start an experiment")
    create.add_argument("name", help="experiment name, also its id")
    create.add_argument("--control", required=True, metavar="MODEL_ID", help="model id (name:version) of the control")
    create.add_argument("--treatment", required=True, action="append", metavar="MODEL_ID",
                        help="model id of a treatment; repeat for several treatments")
    create.add_argument("--weights", help="comma-separated traffic shares, control first (default: equal)")
    create.add_argument("--coverage", type=float, default=1.0, help="share of units enrolled, 0 to 1 (default 1)")
    create.add_argument("--metric", default="correct", help="primary metric as name[:kind[:direction[:missing]]]: kind "
                        "binary or continuous, direction increase or decrease, missing exclude or zero (default "
                        "correct:binary:increase:exclude)")
    create.add_argument("--guardrail", action="append", default=[], metavar="METRIC",
                        help="guardrail metric as name[:kind[:direction[:missing]]]; repeat for several")
    create.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    create.add_argument("--mode", choices=["fixed", "sequential"], default="fixed",
                        help="fixed: one look at the planned size; sequential: valid at every look (default fixed)")
    create.add_argument("--tuning", type=int, default=5000,
                        help="units per variant at which the sequential interval is tightest (default 5000)")
    create.add_argument("--correction", choices=["none", "yates"], default="none",
                        help="continuity correction of the chi-square test (default none)")
    create.add_argument("--seed", help="hashing seed (default: the experiment name, as GrowthBook does)")
    create.add_argument("--description", default="", help="free text")
    create.add_argument("--draft", action="store_true", help="create without starting")
    create.set_defaults(handler=_create)

    start = sub.add_parser("start", parents=[common], help="start an experiment created with --draft")
    start.add_argument("experiment_id")
    start.set_defaults(handler=_start)

    listing = sub.add_parser("list", parents=[common], help="list experiments")
    listing.add_argument("--status", choices=["draft", "running", "stopped"], help="only experiments with this status")
    listing.set_defaults(handler=_list)

    show = sub.add_parser("show", parents=[common], help="results of an experiment: counts, tests, lifts, decision")
    show.add_argument("experiment_id")
    show.add_argument("--phase", type=int, help="phase to analyse (default: the current one)")
    show.set_defaults(handler=_show)

    assign = sub.add_parser("assign", parents=[common], help="the variant of one unit, recording its exposure")
    assign.add_argument("experiment_id")
    assign.add_argument("unit_id", help="user id or patient pseudonym")
    assign.add_argument("--no-record", action="store_true", help="do not record an exposure")
    assign.set_defaults(handler=_assign)

    record = sub.add_parser("record", parents=[common], help="record an outcome of an exposed unit")
    record.add_argument("experiment_id")
    record.add_argument("unit_id", help="user id or patient pseudonym")
    record.add_argument("value", nargs="?", help="the metric's value: 0 or 1 for a binary metric, a number otherwise")
    record.add_argument("--metric", help="metric name (default: the primary metric)")
    record.add_argument("--prediction", help="the variant's prediction; with --label records whether they match")
    record.add_argument("--label", help="the true label that arrived for the prediction")
    record.set_defaults(handler=_record)

    weights = sub.add_parser("weights", parents=[common], help="new weights, which start a new phase")
    weights.add_argument("experiment_id")
    weights.add_argument("weights", help="comma-separated traffic shares, control first")
    weights.set_defaults(handler=_weights)

    coverage = sub.add_parser("coverage", parents=[common], help="enrol another share of units in the same phase")
    coverage.add_argument("experiment_id")
    coverage.add_argument("coverage", type=float, help="share of units enrolled, 0 to 1")
    coverage.set_defaults(handler=_coverage)

    stop = sub.add_parser("stop", parents=[common], help="stop an experiment and record the decision")
    stop.add_argument("experiment_id")
    stop.add_argument("--promote", action="store_true",
                      help="move the winner's model to production and archive the other variants' models; rejected "
                      "when there is no winner")
    stop.set_defaults(handler=_stop)

    size = sub.add_parser("sample-size", parents=[common], help="units per variant to detect an effect")
    size.add_argument("--baseline", type=float, required=True, help="control conversion rate, such as 0.10")
    size.add_argument("--mde", type=float, required=True, help="minimum detectable effect, absolute (0.02) unless "
                      "--relative")
    size.add_argument("--relative", action="store_true", help="read --mde as a share of the baseline (0.2 = 20 %%)")
    size.add_argument("--alpha", type=float, default=0.05, help="two-sided significance level (default 0.05)")
    size.add_argument("--power", type=float, default=0.8, help="chance to detect the effect (default 0.8)")
    size.set_defaults(handler=_sample_size)


def _experiments(settings: Settings) -> Any:
    from workbench.abtesting import Experiments
    from workbench.store import open_store

    return Experiments(open_store(settings.store_url))


def _existing(settings: Settings) -> Any:
    from workbench.cli import _require_existing_store

    _require_existing_store(settings)
    return _experiments(settings)


def _create(args: argparse.Namespace, settings: Settings) -> int:
    experiment = _existing(settings).create(
        args.name, [args.control, *args.treatment],
        weights=None if args.weights is None else _floats(args.weights, "--weights"),
        coverage=args.coverage, primary_metric=args.metric, guardrail_metrics=args.guardrail, alpha=args.alpha,
        mode=args.mode, sequential_tuning=args.tuning, correction=args.correction, seed=args.seed,
        description=args.description, start=not args.draft)
    phase = experiment.current_phase
    shares = ", ".join(f"{variant.name} {variant.model_id} {weight:.4g}"
                       for variant, weight in zip(experiment.variants, phase.weights, strict=True))
    _emit(args, experiment.to_dict(), f"created experiment {experiment.experiment_id} ({experiment.status}): {shares}; "
          f"coverage {phase.coverage:g}, primary metric {experiment.primary_metric.name}, {experiment.mode} mode")
    return 0


def _start(args: argparse.Namespace, settings: Settings) -> int:
    experiment = _existing(settings).start(args.experiment_id)
    _emit(args, experiment.to_dict(), f"started experiment {experiment.experiment_id}, phase "
          f"{experiment.current_phase.index}")
    return 0


def _list(args: argparse.Namespace, settings: Settings) -> int:
    experiments = _existing(settings).list(status=args.status)
    if args.json:
        _print_json([experiment.to_dict() for experiment in experiments])
        return 0
    if not experiments:
        print("No experiment exists." if args.status is None else f"No experiment is {args.status}.")
    for experiment in experiments:
        variants = " vs ".join(variant.model_id or variant.name for variant in experiment.variants)
        print(f"{experiment.experiment_id:32s} {experiment.status:8s} phase {experiment.current_phase.index}  {variants}")
    return 0


def _show(args: argparse.Namespace, settings: Settings) -> int:
    results = _existing(settings).results(args.experiment_id, phase=args.phase)
    _emit(args, results.to_dict(), results.to_text())
    return 0


def _assign(args: argparse.Namespace, settings: Settings) -> int:
    assignment = _existing(settings).assign(args.experiment_id, args.unit_id, record=not args.no_record)
    if assignment.enrolled:
        text = f"{assignment.variant} ({assignment.model_id}), phase {assignment.phase}"
    else:
        text = f"not enrolled: {assignment.reason}"
    _emit(args, assignment.to_dict(), text)
    return 0


def _record(args: argparse.Namespace, settings: Settings) -> int:
    from workbench.errors import ValidationError

    experiments = _existing(settings)
    if (args.prediction is None) != (args.label is None):
        raise ValidationError("Give --prediction and --label together, or neither.", field="--label", value=None)
    if args.prediction is not None:
        if args.value is not None:
            raise ValidationError(f"Give a VALUE ({args.value!r}) or --prediction with --label, not both.",
                                  field="value", value=args.value)
        phase = experiments.record_prediction_outcome(args.experiment_id, args.unit_id, args.prediction, args.label,
                                                      metric=args.metric)
    else:
        if args.value is None:
            raise ValidationError("Give the outcome VALUE, or --prediction and --label.", field="value", value=None)
        phase = experiments.record_outcome(args.experiment_id, args.unit_id, _number(args.value), metric=args.metric)
    _emit(args, {"experiment_id": args.experiment_id, "phase": phase, "recorded": True},
          f"recorded the outcome in phase {phase}")
    return 0


def _weights(args: argparse.Namespace, settings: Settings) -> int:
    experiment = _existing(settings).set_weights(args.experiment_id, _floats(args.weights, "weights"))
    phase = experiment.current_phase
    _emit(args, experiment.to_dict(), f"phase {phase.index} started with weights "
          f"{', '.join(f'{weight:.4g}' for weight in phase.weights)}")
    return 0


def _coverage(args: argparse.Namespace, settings: Settings) -> int:
    experiment = _existing(settings).set_coverage(args.experiment_id, args.coverage)
    _emit(args, experiment.to_dict(), f"coverage is {experiment.current_phase.coverage:g} in phase "
          f"{experiment.current_phase.index}")
    return 0


def _stop(args: argparse.Namespace, settings: Settings) -> int:
    outcome = _existing(settings).stop(args.experiment_id, promote=args.promote)
    _emit(args, outcome.to_dict(), outcome.to_text())
    return 0


def _sample_size(args: argparse.Namespace, settings: Settings) -> int:
    from workbench.abtesting import sample_size_proportions

    size = sample_size_proportions(args.baseline, args.mde, alpha=args.alpha, power=args.power, relative=args.relative)
    data = size.to_dict()
    _emit(args, data, f"{data['users_per_variant']:,} units per variant")
    return 0


def _floats(text: str, option: str) -> list[float]:
    from workbench.errors import ValidationError

    try:
        return [float(item) for item in text.split(",")]
    except ValueError as exc:
        raise ValidationError(f"{option} {text!r} is not a comma-separated list of numbers, such as 0.5,0.5.",
                              field=option, value=text) from exc


def _number(text: str) -> float:
    from workbench.errors import ValidationError

    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return float(lowered == "true")
    try:
        return float(text)
    except ValueError as exc:
        raise ValidationError(f"The outcome value {text!r} is not a number; give 0 or 1 for a binary metric, or a "
                              "number.", field="value", value=text) from exc


def _emit(args: argparse.Namespace, data: Any, text: str) -> None:
    from workbench.cli import _emit as emit

    emit(args, data, text)


def _print_json(data: Any) -> None:
    from workbench.cli import _print_json as print_json

    print_json(data)
