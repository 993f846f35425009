"""docs/api.md is what `make docs` writes now, and it names everything the contracts and tables have."""

from __future__ import annotations

from pathlib import Path

from google.protobuf.descriptor import Descriptor, FileDescriptor

from ironpath.common.v1 import training_pb2
from ironpath.feedback.v1 import feedback_pb2
from ironpath.program.v1 import program_pb2
from ironpath.progress.v1 import figures_pb2, progress_pb2
from tools import gen_api_docs

REPO = Path(__file__).resolve().parents[2]
API_MD = REPO / "docs" / "api.md"
FILES: list[FileDescriptor] = [
    training_pb2.DESCRIPTOR,
    feedback_pb2.DESCRIPTOR,
    program_pb2.DESCRIPTOR,
    figures_pb2.DESCRIPTOR,
    progress_pb2.DESCRIPTOR,
]


def test_the_api_docs_are_not_stale(tmp_path: Path) -> None:
    fresh = tmp_path / "api.md"
    gen_api_docs.main(["--out", str(fresh)])
    assert API_MD.read_text(encoding="utf-8") == fresh.read_text(encoding="utf-8"), (
        "docs/api.md is stale: run `make docs` and commit it"
    )


def _messages(message: Descriptor) -> list[Descriptor]:
    return [message, *(m for nested in message.nested_types for m in _messages(nested))]


def test_the_docs_name_every_service_rpc_message_field_enum_and_table() -> None:
    text = API_MD.read_text(encoding="utf-8")
    seen = {path.relative_to(REPO / "protos").as_posix() for path in (REPO / "protos").rglob("*.proto")}
    assert seen == {f.name for f in FILES}, "a new .proto file: add its module here"
    for file in FILES:
        for service in file.services_by_name.values():
            assert f"### {service.name} (" in text
            for method in service.methods:
                assert f"| `{method.name}` |" in text
        for top in file.message_types_by_name.values():
            for message in _messages(top):
                assert f'<a id="{gen_api_docs.anchor(message.full_name)}"></a>' in text
                for field in message.fields:
                    assert f"| `{field.name}` |" in text
        for enum in file.enum_types_by_name.values():
            for value in enum.values:
                assert f"| `{value.name}` | {value.number} |" in text
    for service in gen_api_docs.SERVICES:
        for table in gen_api_docs.tables_of(service):
            assert f"    {table.name} {{" in text


def test_field_comments_come_from_the_proto_files() -> None:
    text = API_MD.read_text(encoding="utf-8")
    assert "| `load_kg` | `double` | Prescribed load, already rounded to loadable plates; 0 for bodyweight. |" in text
    assert "Called by other IronPath services with a service token; never routed by the gateway." in text
