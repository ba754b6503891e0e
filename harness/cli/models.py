"""`harness models ...`: convert, example, inspect, validate. Thin: parse, call, render.

Only typer is imported here at start-up; the commands import harness.models (and through
it TensorFlow, for convert/example) when they run.
"""

from __future__ import annotations

from pathlib import Path

import typer

app = typer.Typer(
    help="Convert models into variants (fp32, fp16, dynamic, int8); inspect and validate "
    ".tflite files.",
    no_args_is_help=True,
)

_VARIANTS_DEFAULT = "fp32,fp16,dynamic,int8"


def _default_out(model: Path) -> Path:
    return model.resolve().parent / f"{model.resolve().name.split('.')[0]}_tflite"


def _kib(n: int) -> str:
    return f"{n / 1024:,.1f} KiB" if n < 1024 * 1024 else f"{n / 1024 / 1024:,.2f} MiB"


def _ops_summary(ops: dict[str, int], limit: int = 4) -> str:
    items = list(ops.items())
    text = ", ".join(f"{k} x{v}" for k, v in items[:limit])
    return text + (f", +{len(items) - limit} more" if len(items) > limit else "")


def _manifest_table(manifest: object, title: str) -> None:
    from harness.cli.render import console, new_table

    t = new_table(f"{title} in {manifest.folder}")  # type: ignore[attr-defined]
    t.add_column("variant", no_wrap=True)
    t.add_column("file", no_wrap=True)
    t.add_column("bytes", justify="right", no_wrap=True)
    t.add_column("ops", justify="right", no_wrap=True)
    t.add_column("top op types", overflow="fold")
    t.add_column("input", overflow="fold")
    t.add_column("detected", no_wrap=True)
    for v in manifest.variants:  # type: ignore[attr-defined]
        io = ", ".join(i["dtype"] for i in v.inputs)
        t.add_row(
            v.variant,
            v.file,
            f"{v.bytes:,}",
            str(sum(v.ops.values())),
            _ops_summary(v.ops, limit=3),
            io,
            v.detected_variant,
        )
    console().print(t)


@app.command("convert")
def convert(
    model: Path = typer.Argument(..., help="A Keras file (.keras, .h5) or a SavedModel folder."),
    variants: str = typer.Option(
        _VARIANTS_DEFAULT, "--variants", "-v", help="Comma-separated: fp32, fp16, dynamic, int8."
    ),
    calibration: Path | None = typer.Option(
        None,
        "--calibration",
        "-c",
        help="Real input samples for int8: FILE.npy (one array, first axis = samples) or "
        "FILE.npz (one array per input, named after the inputs or in order). Without it, "
        "int8 is calibrated on synthetic noise and its accuracy suffers.",
    ),
    int8_io: bool = typer.Option(
        False, "--int8-io", help="Make the int8 variant's inputs and outputs int8 (default: float)."
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        "-o",
        help="Output folder. Default: <model stem>_tflite/ beside the model "
        "(models/net.keras -> models/net_tflite/).",
    ),
) -> None:
    """Convert a Keras model or SavedModel into .tflite variants plus a manifest.json."""
    from harness.cli.render import info, warn
    from harness.config import parse_variants
    from harness.models.convert import convert_model

    chosen = parse_variants(variants)  # fail fast, before TensorFlow loads
    target = out if out is not None else _default_out(model)
    info(f"converting {model} -> {target} ({', '.join(chosen)}); loading TensorFlow...")
    manifest = convert_model(
        model, chosen, target, calibration=calibration, int8_io=int8_io, warn=warn
    )
    _manifest_table(manifest, title=f"{model.name}: {len(manifest.variants)} variants")
    info(f"manifest: {manifest.path}")


@app.command("example")
def example(
    name: str | None = typer.Argument(None, help="Example name (see --list)."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Output folder. Default: ./examples/NAME."
    ),
    list_: bool = typer.Option(False, "--list", "-l", help="List the built-in examples and exit."),
) -> None:
    """Build a built-in example (seeded Keras model) and convert its four variants into a folder."""
    from harness.cli.render import console, info, new_table, warn
    from harness.errors import UserError
    from harness.models import examples

    if list_:
        t = new_table("built-in examples")
        t.add_column("name")
        t.add_column("description", overflow="fold")
        for n, desc in examples.EXAMPLES.items():
            t.add_row(n + (" (default)" if n == examples.DEFAULT_EXAMPLE else ""), desc)
        console().print(t)
        return
    if name is None:
        raise UserError(
            f"Name an example: one of {', '.join(examples.EXAMPLES)} (or --list to describe them)."
        )
    examples._recipe(name)  # unknown name -> UserError before anything loads
    target = out if out is not None else Path("examples") / name
    info(f"building example {name!r} into {target}; loading TensorFlow...")
    manifest = examples.convert_example(name, target, warn=warn)
    info(f"wrote {target / (name + '.keras')} (Keras model)")
    _manifest_table(manifest, title=f"example {name}")
    info(
        f"manifest: {manifest.path} (int8 calibrated on seeded synthetic data: fine for timing, "
        "not for accuracy)"
    )


@app.command("inspect")
def inspect(
    file: Path = typer.Argument(..., help="A .tflite file."),
    format: str = typer.Option("text", "--format", "-f", help="text or json."),
) -> None:
    """Show a .tflite file's variant, ops, inputs/outputs and weight dtypes (no runtime needed)."""
    from harness.errors import UserError
    from harness.models.inspect import inspect_model

    if format not in ("text", "json"):
        raise UserError(f"Unknown --format {format!r}; use text or json.")
    m = inspect_model(file)
    if format == "json":
        import json

        typer.echo(json.dumps(m.to_dict(), indent=2))
        return

    from harness.cli.render import console, new_table, text

    c = console()  # the model's own strings (path, description, tensor and op names) print literally
    c.print(text((str(m.path), "bold"), f"  {m.bytes:,} bytes ({_kib(m.bytes)})  sha256 {m.sha256[:16]}..."))
    c.print(text("variant: ", (m.variant, "bold"), f"  ({m.variant_reason})"))
    c.print(text(
        f"subgraphs: {m.subgraphs}  operators: {m.operators}  tensors: {m.tensors}"
        + (f"  description: {m.description}" if m.description else "")
    ))
    c.print(text(f"weight dtypes: {m.weight_dtypes}  activation dtypes: {m.activation_dtypes}"))
    t = new_table("inputs / outputs")
    for col in ("io", "name", "dtype", "shape", "quantization"):
        t.add_column(col, overflow="fold")
    for kind, tensors in (("input", m.inputs), ("output", m.outputs)):
        for ti in tensors:
            q = ti.quantization
            qtext = (
                f"scale {q['scale']:.6g}, zero_point {q['zero_point']}"
                if q and not isinstance(q["scale"], list)
                else ("per-channel" if q else "")
            )
            t.add_row(kind, ti.name, ti.dtype, str(ti.shape), qtext)
    c.print(t)
    ot = new_table("ops")
    ot.add_column("op_type")
    ot.add_column("count", justify="right")
    for op, n in m.ops.items():
        ot.add_row(op, str(n))
    c.print(ot)


@app.command("validate")
def validate(
    files: list[Path] = typer.Argument(..., help="One or more .tflite files."),
    timeout: float = typer.Option(
        10.0, "--timeout", help="Seconds the runtime may take to open each model."
    ),
    memory_mb: int = typer.Option(
        2048, "--memory-mb", help="Address-space limit for the runtime check."
    ),
) -> None:
    """Check each file (structure, then the real runtime in a child); exit 2 if any is invalid.

    One line per file: valid ones on stdout, invalid ones as `error: FILE: reason` on stderr.
    """
    from harness.cli.render import error, say
    from harness.models.validate import validate_each

    results = validate_each(files, timeout_s=timeout, memory_mb=memory_mb)
    failed = [r for r in results if not r.ok]
    for r in results:
        if r.ok:
            i = r.info
            assert i is not None
            say(f"ok  {r.path}  ({i.variant}, {i.bytes:,} bytes, {i.operators} ops, {r.seconds:.2f} s)")
        elif r is not failed[-1]:
            error(str(r.error))
    if failed:
        err = failed[-1].error
        assert err is not None
        raise err  # the CLI prints it as the last `error:` line and exits with code 2
