"""The SDK natively: the export glue, the constructors and error helpers,
and the template built on them."""

import importlib.util
import pathlib

import pytest

import sluice
from sluice import Err, Error, ErrorKind, Level, Output, Record


class Recorder:
    """Routes each record to the output its value names; counts batches."""

    def init(self, config: str) -> None:
        if config == "bad":
            raise Error.invalid_config("config is bad")
        self.batches = 0

    def process(self, batch):
        self.batches += 1
        return [Output.to(record.value.decode(), record) for record in batch]


def test_process_before_init_is_an_internal_error():
    sluice._instance = None
    world = sluice.export_transform(Recorder)()
    with pytest.raises(Err) as raised:
        world.process([])
    assert raised.value.value.kind == ErrorKind.INTERNAL


def test_init_builds_one_instance_that_every_call_shares():
    world_class = sluice.export_transform(Recorder)
    world_class().init("{}")
    # componentize-py may build a new `WitWorld` per call: state must carry.
    outputs = world_class().process([Record.from_value(b"a")])
    world_class().process([])
    assert outputs == [Output(record=Record.from_value(b"a"), target="a")]
    assert sluice._instance.batches == 2


def test_a_failed_init_keeps_no_instance_of_its_own():
    world = sluice.export_transform(Recorder)()
    world.init("{}")
    kept = sluice._instance
    with pytest.raises(Err) as raised:
        world.init("bad")
    assert raised.value.value == Error(kind=ErrorKind.INVALID_CONFIG, message="config is bad")
    assert sluice._instance is kept


@pytest.mark.parametrize(
    ("helper", "kind"),
    [
        (Error.invalid_config, ErrorKind.INVALID_CONFIG),
        (Error.invalid_input, ErrorKind.INVALID_INPUT),
        (Error.unavailable, ErrorKind.UNAVAILABLE),
        (Error.internal, ErrorKind.INTERNAL),
    ],
)
def test_error_helpers_build_the_wit_error(helper, kind):
    error = helper("why")
    assert isinstance(error, Err)
    assert (error.value.kind, error.value.message) == (kind, "why")


def test_output_constructors():
    record = Record.from_value(b"v")
    assert (record.key, record.value, record.headers, record.timestamp, record.origin) == (
        None, b"v", [], 0, None,
    )
    assert Output.to_default(record).target is None
    assert Output.to("errors", record).target == "errors"


def test_log_writes_to_stderr_natively(capsys):
    sluice.log(Level.WARN, "batch of 3")
    assert capsys.readouterr().err == "WARN: batch of 3\n"


def test_the_template_passes_records_through():
    path = pathlib.Path(__file__).parent / "template" / "app.py"
    spec = importlib.util.spec_from_file_location("python_template", path)
    template = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(template)
    world = template.WitWorld()
    world.init("{}")
    batch = [Record.from_value(b"x"), Record(key=b"k", value=None, headers=[], timestamp=1, origin=None)]
    assert world.process(batch) == [Output.to_default(record) for record in batch]
    with pytest.raises(Err) as raised:
        world.init('{"unexpected": 1}')
    assert raised.value.value.kind == ErrorKind.INVALID_CONFIG
