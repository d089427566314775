"""The ``workbench`` command line: monitoring, models, drift, A/B tests, messaging, reports and the demo.

Every command takes ``--json`` for machine-readable output and exits with status 1 and a one-line
message on stderr when it fails; status 2 is a usage error.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from workbench import __version__
from workbench.cli_ab import add_ab
from workbench.cli_modality import add_modality
from workbench.config import CORRECTIONS, Settings, load_settings
from workbench.errors import WorkbenchError

logger = logging.getLogger("workbench.cli")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    if not hasattr(args, "handler"):
        parser.print_help()
        return 2
    try:
        settings = load_settings()
        if args.store:
            settings = settings.replace(store_url=args.store)
        _check_enabled(args, settings)
        result = args.handler(args, settings)
    except WorkbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of a pipe, such as `head`, closed it early; that is not an error of this command.
        sys.stderr.close()
        return 0
    # Handlers return 0, 1 or a documented status of their own, such as 3 for a study mismatch.
    return int(result) if isinstance(result, int) else 0


def configure_logging(level: str) -> None:
    """Send log records at ``level`` and above to stderr, keeping pymongo's command log out of them.

    At DEBUG, pymongo's ``pymongo.command`` logger prints whole documents, which hold unit ids and
    feature values, so the ``pymongo`` loggers stay at INFO or above whatever ``level`` is.
    """
    logging.basicConfig(level=getattr(logging, level), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pymongo").setLevel(max(logging.INFO, getattr(logging, level)))


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of every command."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", help="print machine-readable JSON instead of text")

    parser = argparse.ArgumentParser(prog="workbench", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"workbench {__version__}")
    parser.add_argument("--store", metavar="URL", help="store URL; overrides WORKBENCH_STORE_URL")
    parser.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="log level of messages on stderr (default WARNING)")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    _add_monitoring(commands, common)
    _add_models(commands, common)
    _add_drift(commands, common)
    _add_report(commands, common)
    _add_messaging(commands, common)
    add_ab(commands, common)
    add_modality(commands, common)

    demo = commands.add_parser("demo", parents=[common], help="build the sample data, record a stream, simulate "
                               "an A/B test and run the monitoring, A/B testing and multi-modality reports")
    demo.add_argument("--output-dir", type=Path, help="folder of the executed monitoring report, with the A/B "
                      "report in its ab_testing/ subfolder (default: new folders under papermill_runs/)")
    demo.set_defaults(handler=_run_demo)
    return parser


# Monitoring --------------------------------------------------------------------------------------------

def _add_monitoring(commands: Any, common: argparse.ArgumentParser) -> None:
    monitoring = commands.add_parser("monitoring", help="check and record predictions of registered models")
    monitoring.set_defaults(switch="monitoring_enabled")
    sub = monitoring.add_subparsers(title="monitoring commands", metavar="COMMAND", required=True)

    status = sub.add_parser("status", parents=[common], help="drift and decay of one model, or of all")
    status.add_argument("model_id", nargs="?", help="model id (name:version); all models when left out")
    status.add_argument("--window", default="last:1000",
                        help="last:N, all, or START/END in ISO 8601 UTC (default last:1000)")
    status.add_argument("--no-alerts", action="store_true", help="compute only; store and log no alert")
    status.set_defaults(handler=_monitoring_status)

    record = sub.add_parser("record", parents=[common], help="record one prediction")
    record.add_argument("model_id", help="model id (name:version)")
    record.add_argument("--features", required=True, help="JSON object of feature values, or @FILE")
    record.add_argument("--prediction", required=True, help="predicted class (read as JSON when it parses)")
    record.add_argument("--probability", help="JSON list of class probabilities in class order, or an object")
    record.add_argument("--label", help="true class, when already known (read as JSON when it parses)")
    record.add_argument("--prediction-id", help="idempotency key; a random id when left out")
    record.add_argument("--timestamp", help="ISO 8601 time with a UTC offset (default now)")
    record.set_defaults(handler=_monitoring_record)

    label = sub.add_parser("label", parents=[common], help="record the true class of an earlier prediction")
    label.add_argument("model_id", help="model id (name:version)")
    label.add_argument("prediction_id", help="id of the prediction")
    label.add_argument("label", help="true class (read as JSON when it parses)")
    label.set_defaults(handler=_monitoring_label)

    alerts = sub.add_parser("alerts", parents=[common], help="list stored alerts, newest first")
    alerts.add_argument("model_id", nargs="?", help="only this model")
    alerts.add_argument("--limit", type=int, default=50, help="maximum number of alerts to list (default 50)")
    alerts.set_defaults(handler=_monitoring_alerts)


def _monitoring_status(args: argparse.Namespace, settings: Settings) -> int:
    from workbench.monitoring import Monitor

    _require_existing_store(settings)
    monitor = Monitor(settings=settings)
    store_alerts = not args.no_alerts
    if args.model_id:
        statuses = [monitor.status(args.model_id, args.window, store_alerts=store_alerts)]
    else:
        statuses = monitor.status_all(args.window, store_alerts=store_alerts)
    if args.json:
        _print_json([status.to_dict() for status in statuses] if not args.model_id else statuses[0].to_dict())
        return 0
    if not statuses:
        print("No monitored model: register one with baseline statistics (`workbench models register`).")
    for status in statuses:
        print(status.summary())
        frame = status.drift.to_frame()
        print(frame[["kind", "drift", "status", "test", "statistic", "pvalue_adjusted", "effect_size",
                     "missing_share_current", "missing_drift"]].to_string(float_format=lambda v: f"{v:.4g}"))
        if status.decay.metrics:
            print(status.decay.to_frame().to_string(float_format=lambda v: f"{v:.4f}"))
        print()
    return 0


def _monitoring_record(args: argparse.Namespace, settings: Settings) -> int:
    from workbench.monitoring import Monitor

    _require_existing_store(settings)
    features = _json_argument(args.features, "--features")
    probability = None if args.probability is None else _json_argument(args.probability, "--probability")
    label = None if args.label is None else _json_or_text(args.label)
    monitor = Monitor(settings=settings)
    before = monitor.store.count_predictions(args.model_id)
    prediction_id = monitor.record(args.model_id, features, _json_or_text(args.prediction), probability,
                                   label=label, prediction_id=args.prediction_id, timestamp=args.timestamp)
    stored = monitor.store.count_predictions(args.model_id) > before
    text = (f"recorded prediction {prediction_id} of model {args.model_id}" if stored
            else f"prediction {prediction_id} of model {args.model_id} was already stored; skipped")
    _emit(args, {"model_id": args.model_id, "prediction_id": prediction_id, "stored": stored}, text)
    return 0


def _monitoring_label(args: argparse.Namespace, settings: Settings) -> int:
    from workbench.monitoring import Monitor

    _require_existing_store(settings)
    label = _json_or_text(args.label)
    Monitor(settings=settings).record_label(args.model_id, args.prediction_id, label)
    _emit(args, {"model_id": args.model_id, "prediction_id": args.prediction_id, "label": label},
          f"recorded label {label!r} for prediction {args.prediction_id}; it replaces any earlier label")
    return 0


def _monitoring_alerts(args: argparse.Namespace, settings: Settings) -> int:
    from workbench.monitoring import Monitor

    _require_existing_store(settings)
    monitor = Monitor(settings=settings)
    if args.model_id:
        monitor.registry.get(args.model_id)
    alerts = monitor.alerts(args.model_id, args.limit)
    if args.json:
        _print_json(alerts)
        return 0
    if not alerts:
        print("No alerts.")
    for alert in alerts:
        print(f"{alert['created_at']:%Y-%m-%d %H:%M:%S} UTC  {alert['model_id']}  {alert['kind']}  "
              f"{alert['window_key']}: {alert['message']}")
    return 0


# Models ------------------------------------------------------------------------------------------------

def _add_models(commands: Any, common: argparse.ArgumentParser) -> None:
    models = commands.add_parser("models", help="register, list, show and stage models")
    sub = models.add_subparsers(title="models commands", metavar="COMMAND", required=True)

    listing = sub.add_parser("list", parents=[common], help="list registered models")
    listing.add_argument("--stage", help="only models at this stage")
    listing.set_defaults(handler=_models_list)

    show = sub.add_parser("show", parents=[common], help="show one model and its baseline")
    show.add_argument("model_id", help="model id (name:version)")
    show.set_defaults(handler=_models_show)

    register = sub.add_parser("register", parents=[common],
                              help="register a model with baseline statistics computed from a reference table")
    register.add_argument("name", help="model name")
    register.add_argument("version", help="model version")
    register.add_argument("--reference", required=True, type=Path,
                          help="CSV or Parquet file of reference rows (training or validation data)")
    register.add_argument("--label-column", help="column of true classes")
    register.add_argument("--prediction-column", help="column of the model's predicted classes")
    register.add_argument("--probability-columns", help="comma-separated probability columns in class order")
    register.add_argument("--classes", help="comma-separated class labels in probability order (read as JSON "
                          "values when they parse, so 0,1 are integers)")
    register.add_argument("--categorical", default="", help="comma-separated columns to treat as categorical")
    register.add_argument("--exclude", default="", help="comma-separated columns that are not features")
    register.add_argument("--stage", default="staging", help="staging, production or archived (default staging)")
    register.add_argument("--sample-size", type=int, default=None,
                          help="maximum reference values kept per numeric feature, at least 1 (default "
                          "WORKBENCH_REFERENCE_SAMPLE_SIZE or 10000)")
    register.add_argument("--description", default="", help="free text")
    register.set_defaults(handler=_models_register)

    stage = sub.add_parser("stage", parents=[common], help="move a model to another stage")
    stage.add_argument("model_id", help="model id (name:version)")
    stage.add_argument("stage", help="staging, production or archived")
    stage.set_defaults(handler=_models_stage)


def _registry(settings: Settings) -> Any:
    from workbench.registry import Registry
    from workbench.store import open_store

    return Registry(open_store(settings.store_url))


def _models_list(args: argparse.Namespace, settings: Settings) -> int:
    _require_existing_store(settings)
    records = _registry(settings).list(stage=args.stage)
    if args.json:
        _print_json([record.to_dict() for record in records])
        return 0
    if not records:
        print("No model is registered.")
    for record in records:
        accuracy = record.metrics.get("accuracy")
        metric = f"accuracy {accuracy:.4f}" if isinstance(accuracy, float) else "no metrics"
        print(f"{record.model_id:40s} {record.stage:10s} {metric}  baseline: {'yes' if record.baseline else 'no'}")
    return 0


def _models_show(args: argparse.Namespace, settings: Settings) -> int:
    _require_existing_store(settings)
    record = _registry(settings).get(args.model_id)
    if args.json:
        data = record.to_dict()
        data["baseline_features"] = None if record.baseline is None else record.baseline.to_frame().reset_index().to_dict("records")
        _print_json(data)
        return 0
    for key, value in record.to_dict().items():
        print(f"{key:12s} {value}")
    if record.baseline is not None:
        print(record.baseline.to_frame().to_string(float_format=lambda v: f"{v:.4g}"))
    return 0


def _models_register(args: argparse.Namespace, settings: Settings) -> int:
    from workbench.monitoring import compute_baseline
    from workbench.tables import read_table

    frame = read_table(args.reference)
    label_col, prediction_col = args.label_column, args.prediction_column
    probability_cols = _split(args.probability_columns)
    excluded = _split(args.exclude)
    for option, columns in (("--label-column", [label_col]), ("--prediction-column", [prediction_col]),
                            ("--probability-columns", probability_cols), ("--exclude", excluded)):
        _require_columns(frame, [column for column in columns if column], option)
    non_features = {label_col, prediction_col, *probability_cols, *excluded} - {None}
    features = frame.drop(columns=sorted(non_features))
    categorical = _split(args.categorical)
    _require_columns(features, categorical, "--categorical")

    baseline = compute_baseline(
        features,
        feature_types={column: "categorical" for column in categorical},
        labels=None if label_col is None else frame[label_col],
        predictions=None if prediction_col is None else frame[prediction_col],
        probabilities=frame[probability_cols].to_numpy() if probability_cols else None,
        classes=None if args.classes is None else [_json_or_text(item) for item in _split(args.classes)],
        reference_sample_size=_sample_size(args, settings),
    )
    record = _registry(settings).register(args.name, args.version, stage=args.stage,
                                          baseline_statistics=baseline, description=args.description)
    _emit(args, record.to_dict(), f"registered {record.model_id} at stage {record.stage} with a baseline of "
          f"{len(baseline.features)} features from {baseline.n_rows} rows")
    return 0


def _models_stage(args: argparse.Namespace, settings: Settings) -> int:
    _require_existing_store(settings)
    record = _registry(settings).set_stage(args.model_id, args.stage)
    _emit(args, record.to_dict(), f"{record.model_id} is now at stage {record.stage}")
    return 0


# Drift of two files ------------------------------------------------------------------------------------

def _add_drift(commands: Any, common: argparse.ArgumentParser) -> None:
    drift = commands.add_parser("drift", parents=[common], help="compare two CSV or Parquet files column by column")
    drift.add_argument("reference", type=Path, help="reference CSV or Parquet file")
    drift.add_argument("current", type=Path, help="current CSV or Parquet file")
    drift.add_argument("--categorical", default="", help="comma-separated columns to treat as categorical")
    drift.add_argument("--exclude", default="", help="comma-separated reference columns to leave out")
    drift.add_argument("--alpha", type=float, default=None, help="significance level after correction "
                       "(default WORKBENCH_DRIFT_ALPHA or 0.05)")
    drift.add_argument("--correction", choices=CORRECTIONS, default=None,
                       help="multiple-testing correction (default WORKBENCH_DRIFT_CORRECTION or bh)")
    drift.add_argument("--method", choices=("auto", "exact", "asymp"), default="auto",
                       help="Kolmogorov-Smirnov p-value mode, as in scipy.stats.ks_2samp (default auto)")
    drift.add_argument("--sample-size", type=int, default=None,
                       help="maximum reference values per numeric column, at least 1 (default "
                       "WORKBENCH_REFERENCE_SAMPLE_SIZE or 10000)")
    drift.set_defaults(handler=_drift)


def _drift(args: argparse.Namespace, settings: Settings) -> int:
    from workbench.monitoring import compute_baseline, detect_drift
    from workbench.tables import read_table

    reference, current = read_table(args.reference), read_table(args.current)
    excluded = _split(args.exclude)
    _require_columns(reference, excluded, "--exclude")
    reference = reference.drop(columns=excluded)
    categorical = _split(args.categorical)
    _require_columns(reference, categorical, "--categorical")
    baseline = compute_baseline(reference, feature_types={column: "categorical" for column in categorical},
                                reference_sample_size=_sample_size(args, settings))
    missing = [column for column in baseline.features if column not in current.columns]
    if missing:
        from workbench.errors import ValidationError

        raise ValidationError(
            f"{args.current} lacks reference column(s) {missing}; add them to it, or leave them out with "
            f"--exclude {','.join(missing)}.",
            field="current", value=missing,
        )
    report = detect_drift(baseline, current, alpha=args.alpha or settings.drift_alpha,
                          correction=args.correction or settings.drift_correction,
                          min_samples=settings.min_samples, method=args.method)
    if args.json:
        _print_json(report.to_dict())
        return 0
    frame = report.to_frame()[["kind", "drift", "status", "test", "statistic", "pvalue", "pvalue_adjusted",
                               "effect_size", "effect_size_name", "missing_share_current", "missing_drift",
                               "unseen_categories", "reason"]]
    print(frame.to_string(float_format=lambda v: f"{v:.4g}"))
    drifted = report.drifted_features
    print(f"\n{len(drifted)} of {len(report.features)} columns drifted (alpha {report.alpha}, correction "
          f"{report.correction}){': ' + ', '.join(drifted) if drifted else ''}.")
    if report.ignored_columns:
        print(f"Columns of {args.current} that the reference lacks, not compared: {', '.join(report.ignored_columns)}")
    return 0


# Messaging and ingestion -------------------------------------------------------------------------------

def _add_messaging(commands: Any, common: argparse.ArgumentParser) -> None:
    messaging = commands.add_parser("messaging", help="publish messages and see the queue's state")
    sub = messaging.add_subparsers(title="messaging commands", metavar="COMMAND", required=True)

    publish = sub.add_parser("publish", parents=[common], help="publish one message and wait for the broker")
    publish.add_argument("topic", help="topic name, such as predictions")
    publish.add_argument("payload", help="JSON object of the message payload, or @FILE")
    publish.add_argument("--type", default=None, help="message type (default: prediction on the predictions "
                         "topic, message elsewhere)")
    publish.add_argument("--key", help="partition or routing key")
    publish.set_defaults(handler=_messaging_publish)

    status = sub.add_parser("status", parents=[common], help="connection state and queue depth or lag")
    status.add_argument("--topic", action="append", default=[],
                        help="topic whose depth to report on RabbitMQ or Kafka; repeat for several")
    status.add_argument("--group", help="consumer group whose lag on each --topic to report (Kafka)")
    status.set_defaults(handler=_messaging_status)

    consume = commands.add_parser("consume", help="run a long-lived consumer")
    consume_sub = consume.add_subparsers(title="consumers", metavar="CONSUMER", required=True)
    predictions = consume_sub.add_parser("predictions", parents=[common],
                                         help="record prediction and label events through the monitor")
    predictions.add_argument("--topic", default="predictions", help="topic to read (default predictions)")
    predictions.add_argument("--group", default="workbench-ingest", help="consumer group (default workbench-ingest)")
    predictions.add_argument("--alerts-topic", default="alerts",
                             help="topic that new alerts are published on (default alerts); '' publishes none")
    predictions.add_argument("--check-every", type=int, default=500,
                             help="recorded predictions of a model between drift and decay checks (default 500)")
    predictions.add_argument("--window", default="last:1000", help="window each check reads (default last:1000)")
    predictions.add_argument("--max-messages", type=int, help="stop after this many messages")
    predictions.add_argument("--idle-timeout", type=float, help="stop after this many seconds without a message")
    predictions.set_defaults(handler=_consume_predictions, switch="monitoring_enabled")


def _messaging_publish(args: argparse.Namespace, settings: Settings) -> int:
    from workbench.messaging import Message, open_queue

    payload = _json_argument(args.payload, "payload")
    if not isinstance(payload, dict):
        from workbench.errors import ValidationError

        raise ValidationError("The payload must be a JSON object, such as '{\"model_id\": \"m:1\"}'.",
                              field="payload", value=type(payload).__name__)
    kind = args.type or ("prediction" if args.topic == "predictions" else "message")
    message = Message(payload, type=kind, key=args.key)
    with open_queue(settings.queue_url) as queue:
        queue.publish(args.topic, message)
    _emit(args, {"topic": args.topic, "message_id": message.message_id, "type": kind, "confirmed": True},
          f"published message {message.message_id} to {args.topic}")
    return 0


def _messaging_status(args: argparse.Namespace, settings: Settings) -> int:
    from workbench.messaging import open_queue

    with open_queue(settings.queue_url) as queue:
        for topic in args.topic:
            queue.watch(topic, args.group)
        status = queue.status()
    if args.json:
        _print_json(status.to_dict())
    else:
        print(f"{status.backend} at {status.url}: {'connected' if status.connected else 'not connected'}")
        if status.detail:
            print(status.detail)
        for name, depth in sorted(status.depth.items()):
            print(f"  {name}: {depth}")
    return 0 if status.connected else 1


def _consume_predictions(args: argparse.Namespace, settings: Settings) -> int:
    import signal
    import threading

    from workbench.messaging import open_queue
    from workbench.monitoring import Monitor
    from workbench.monitoring.ingest import IngestOptions, PredictionConsumer

    stop = threading.Event()

    def request_stop(signum: int, frame: Any) -> None:
        logger.info("received %s; finishing the current message", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    options = IngestOptions(topic=args.topic, group=args.group, alerts_topic=args.alerts_topic or None,
                            check_every=args.check_every, window=args.window)
    with open_queue(settings.queue_url) as queue:
        consumer = PredictionConsumer(queue, Monitor(settings=settings), options)
        result = consumer.run(stop=stop, max_messages=args.max_messages, idle_timeout=args.idle_timeout)
    _emit(args, {**result.to_dict(), "labels": consumer.labels, "recorded": dict(consumer.recorded)},
          f"consumed {args.topic}: {result.handled} handled, {result.dead_lettered} dead-lettered, "
          f"{result.retried} retried")
    return 0


# Reports and demo --------------------------------------------------------------------------------------

def _add_report(commands: Any, common: argparse.ArgumentParser) -> None:
    report = commands.add_parser("report", parents=[common], help="run a report notebook headless into HTML")
    report.add_argument("name", help="report name (a notebook in notebooks/) or a path to an .ipynb file")
    report.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                        help="set a parameter of the notebook; repeat for several")
    report.add_argument("--output-dir", type=Path, help="folder for the executed notebook, HTML and manifest")
    report.add_argument("--show-code", action="store_true", help="keep code cells in the HTML")
    report.set_defaults(handler=_report)


def _report(args: argparse.Namespace, settings: Settings) -> int:
    import os

    from workbench.reports import run_report

    if args.store:
        # The notebook's kernel inherits this process's environment, and a notebook whose store_url
        # parameter is empty reads WORKBENCH_STORE_URL, so --store reaches every report notebook.
        os.environ["WORKBENCH_STORE_URL"] = args.store
    run = run_report(args.name, dict(args.parameter), output_dir=args.output_dir, show_code=args.show_code,
                     progress=not args.json and sys.stderr.isatty())
    _emit(args, run.to_dict(), f"report written to {run.html_path}")
    return 0


def _run_demo(args: argparse.Namespace, settings: Settings) -> int:
    from workbench.demo import run_demo

    result = run_demo(settings, output_dir=args.output_dir, progress=not args.json)
    text = f"\n{result['summary']}\n\nHTML report: {result['html_path']}"
    if result["ab_html_path"] is not None:
        decision = result["ab_decision"] or {}
        winner = decision.get("winner")
        verdict = "no winner" if winner is None else f"{winner} wins ({decision.get('model_id')})"
        text += (f"\n\nA/B test {result['experiment_id']}: {verdict}; the experiment keeps running"
                 f"\nA/B testing report: {result['ab_html_path']}")
    if result["study_html_path"] is not None:
        mismatches = ", ".join(result["study_mismatches"] or []) or "none"
        text += (f"\n\nImage with its report: {result['study_findings']} findings, header mismatches: {mismatches}"
                 f"\nMulti-modality report: {result['study_html_path']}")
    _emit(args, result, text)
    return 0


# Helpers -----------------------------------------------------------------------------------------------

def _check_enabled(args: argparse.Namespace, settings: Settings) -> None:
    from workbench.errors import ConfigError

    switch = getattr(args, "switch", None)
    if switch and not getattr(settings, switch):
        variable = {"monitoring_enabled": "MODEL_MONITORING_ENABLED", "ab_testing_enabled": "AB_TESTING_ENABLED",
                    "multi_modality_enabled": "MULTI_MODALITY_ENABLED"}[switch]
        raise ConfigError(f"This command is switched off by {variable}=false; set {variable}=true to use it.",
                          name=variable, value="false")


def _sample_size(args: argparse.Namespace, settings: Settings) -> int:
    return settings.reference_sample_size if args.sample_size is None else args.sample_size


def _require_existing_store(settings: Settings) -> None:
    """Reject a SQLite store file that does not exist, so a mistyped URL never reads as an empty store.

    Only commands that register models (``models register``, ``demo``) create a store.
    """
    from workbench.errors import NotFoundError
    from workbench.store.urls import url_scheme

    url = settings.store_url
    if url_scheme(url) != "sqlite" or not url.startswith("sqlite:///"):
        # open_store reports a malformed SQLite URL itself.
        return
    path = url[len("sqlite:///"):]
    if path != ":memory:" and not Path(path).exists():
        raise NotFoundError(
            f"The store {path!r} does not exist. Check WORKBENCH_STORE_URL or --store, or create the store "
            "by registering a model (`workbench models register`) or running `workbench demo`.",
            kind="store", key=path,
        )


def _emit(args: argparse.Namespace, data: Any, text: str) -> None:
    if args.json:
        _print_json(data)
    else:
        print(text)


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=_json_default, allow_nan=False))


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _json_argument(text: str, option: str) -> Any:
    from workbench.errors import ValidationError

    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise ValidationError(f"{option} file {text[1:]!r} could not be read: {exc}", field=option,
                                  value=text) from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{option} is not valid JSON ({exc}); quote it, such as "
                              "'{\"mean_radius\": 14.2}'.", field=option, value=text) from exc


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _split(text: str | None) -> list[str]:
    return [item.strip() for item in (text or "").split(",") if item.strip()]


def _require_columns(frame: pd.DataFrame, columns: Any, option: str) -> None:
    from workbench.errors import ValidationError

    missing = sorted(column for column in columns if column not in frame.columns)
    if missing:
        raise ValidationError(f"{option} names column(s) {missing} that the table lacks; its columns are "
                              f"{list(frame.columns)}.", field=option, value=missing)



if __name__ == "__main__":
    raise SystemExit(main())
