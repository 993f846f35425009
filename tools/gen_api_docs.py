"""`make docs`: docs/api.md from the contracts and the table definitions.

    python -m tools.gen_api_docs [--out docs/api.md]

Every service, RPC, message, field and enum value of `protos/`, with the comment written above it
in the .proto file (read from protoc's descriptor set with source info, so the text is the
contract's own); the auth flow; and a mermaid diagram of each service's tables, built from the
SQLAlchemy metadata of its `models.py`. tests/docs/test_api_docs.py fails when docs/api.md differs
from what this writes.
"""

from __future__ import annotations

import argparse
import importlib
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from google.protobuf import descriptor_pb2
from sqlalchemy import MetaData, Table
from sqlalchemy.dialects import postgresql

from gateway.config import PUBLIC_SERVICES
from ironpath_common.auth import SERVICE_AUDIENCE, SERVICE_TOKEN_TTL_SECONDS

REPO = Path(__file__).resolve().parents[1]
PROTOS = REPO / "protos"
OUT = REPO / "docs" / "api.md"
SERVICES = ("program", "progress", "feedback")
PUBLIC = {d.full_name for descriptors in PUBLIC_SERVICES.values() for d in descriptors}

# Paths in SourceCodeInfo (descriptor.proto field numbers).
FILE_PACKAGE, FILE_MESSAGE, FILE_ENUM, FILE_SERVICE = 2, 4, 5, 6
MESSAGE_FIELD, MESSAGE_NESTED, MESSAGE_ENUM = 2, 3, 4
ENUM_VALUE = 2
SERVICE_METHOD = 2

SCALARS = {
    descriptor_pb2.FieldDescriptorProto.TYPE_DOUBLE: "double",
    descriptor_pb2.FieldDescriptorProto.TYPE_FLOAT: "float",
    descriptor_pb2.FieldDescriptorProto.TYPE_INT64: "int64",
    descriptor_pb2.FieldDescriptorProto.TYPE_UINT64: "uint64",
    descriptor_pb2.FieldDescriptorProto.TYPE_INT32: "int32",
    descriptor_pb2.FieldDescriptorProto.TYPE_UINT32: "uint32",
    descriptor_pb2.FieldDescriptorProto.TYPE_BOOL: "bool",
    descriptor_pb2.FieldDescriptorProto.TYPE_STRING: "string",
    descriptor_pb2.FieldDescriptorProto.TYPE_BYTES: "bytes",
}


def descriptor_set(protos: Path = PROTOS) -> descriptor_pb2.FileDescriptorSet:
    """protoc's view of the contracts, comments included (the Makefile's protoc, another output)."""
    files = sorted(str(p.relative_to(protos)) for p in protos.rglob("*.proto"))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "api.pb"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "grpc_tools.protoc",
                f"-I{protos}",
                "--include_source_info",
                f"--descriptor_set_out={out}",
                *files,
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
        result = descriptor_pb2.FileDescriptorSet()
        result.ParseFromString(out.read_bytes())
    return result


@dataclass
class Comments:
    """The comment above each element of one file, by its SourceCodeInfo path."""

    by_path: dict[tuple[int, ...], str]

    @classmethod
    def of(cls, file: descriptor_pb2.FileDescriptorProto) -> Comments:
        found = {}
        for location in file.source_code_info.location:
            text = (location.leading_comments or location.trailing_comments).strip()
            if text:
                found[tuple(location.path)] = " ".join(line.strip() for line in text.splitlines())
        return cls(found)

    def __call__(self, *path: int) -> str:
        return self.by_path.get(tuple(path), "")


def anchor(full_name: str) -> str:
    return re.sub(r"[./]", "-", full_name.lstrip(".")).lower()


def type_name(field: descriptor_pb2.FieldDescriptorProto) -> str:
    if field.type_name:
        name = field.type_name.lstrip(".")
        if name.startswith("ironpath."):
            return f"[`{name.rsplit('.', 1)[1]}`](#{anchor(name)})"
        return f"`{name}`"
    return f"`{SCALARS[field.type]}`"


def label(field: descriptor_pb2.FieldDescriptorProto) -> str:
    if field.label == descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED:
        return "repeated "
    if field.proto3_optional:
        return "optional "
    return ""


def cell(text: str) -> str:
    return text.replace("|", "\\|") or " "


# ---------------------------------------------------------------------------------------------
# The contracts


def render_service(
    file: descriptor_pb2.FileDescriptorProto, index: int, service: descriptor_pb2.ServiceDescriptorProto, c: Comments
) -> Iterator[str]:
    full = f"{file.package}.{service.name}"
    reach = "public, through the gateway" if full in PUBLIC else "internal, service tokens only, never routed"
    yield f'<a id="{anchor(full)}"></a>'
    yield f"### {service.name} ({reach})"
    yield ""
    if c(FILE_SERVICE, index):
        yield c(FILE_SERVICE, index)
        yield ""
    yield "| RPC | request | response | |"
    yield "|---|---|---|---|"
    for m_index, method in enumerate(service.method):
        request = method.input_type.lstrip(".")
        response = method.output_type.lstrip(".")
        stream = "stream " if method.server_streaming else ""
        yield (
            f"| `{method.name}` | [`{request.rsplit('.', 1)[1]}`](#{anchor(request)}) "
            f"| {stream}[`{response.rsplit('.', 1)[1]}`](#{anchor(response)}) "
            f"| {cell(c(FILE_SERVICE, index, SERVICE_METHOD, m_index))} |"
        )
    yield ""


def render_message(
    package: str, message: descriptor_pb2.DescriptorProto, c: Comments, path: tuple[int, ...]
) -> Iterator[str]:
    full = f"{package}.{message.name}"
    yield f'<a id="{anchor(full)}"></a>'
    yield f"#### {message.name}"
    yield ""
    if c(*path):
        yield c(*path)
        yield ""
    if message.field:
        yield "| field | type | description |"
        yield "|---|---|---|"
        for f_index, field in enumerate(message.field):
            yield (f"| `{field.name}` | {label(field)}{type_name(field)} | {cell(c(*path, MESSAGE_FIELD, f_index))} |")
    else:
        yield "No fields."
    yield ""
    for n_index, nested in enumerate(message.nested_type):
        if nested.options.map_entry:
            continue
        yield from render_message(full, nested, c, (*path, MESSAGE_NESTED, n_index))
    for e_index, enum in enumerate(message.enum_type):
        yield from render_enum(full, enum, c, (*path, MESSAGE_ENUM, e_index))


def render_enum(
    package: str, enum: descriptor_pb2.EnumDescriptorProto, c: Comments, path: tuple[int, ...]
) -> Iterator[str]:
    full = f"{package}.{enum.name}"
    yield f'<a id="{anchor(full)}"></a>'
    yield f"#### enum {enum.name}"
    yield ""
    if c(*path):
        yield c(*path)
        yield ""
    yield "| value | number | description |"
    yield "|---|---|---|"
    for v_index, value in enumerate(enum.value):
        yield f"| `{value.name}` | {value.number} | {cell(c(*path, ENUM_VALUE, v_index))} |"
    yield ""


def render_file(file: descriptor_pb2.FileDescriptorProto) -> Iterator[str]:
    c = Comments.of(file)
    yield f"## `{file.package}` ({file.name})"
    yield ""
    if c(FILE_PACKAGE):
        yield c(FILE_PACKAGE)
        yield ""
    for index, service in enumerate(file.service):
        yield from render_service(file, index, service, c)
    if file.message_type:
        yield f"### Messages of `{file.package}`"
        yield ""
        for index, message in enumerate(file.message_type):
            yield from render_message(file.package, message, c, (FILE_MESSAGE, index))
    if file.enum_type:
        yield f"### Enums of `{file.package}`"
        yield ""
        for index, enum in enumerate(file.enum_type):
            yield from render_enum(file.package, enum, c, (FILE_ENUM, index))


# ---------------------------------------------------------------------------------------------
# Auth and tables


def auth_flow() -> Iterator[str]:
    yield "## Authentication"
    yield ""
    yield (
        "**Users** sign in with Supabase Auth and send its access token as `authorization: Bearer <token>`. "
        "Envoy verifies it first (`jwt_authn`: issuer, audience `authenticated`, expiry; the HS256 legacy "
        "secret and/or the project's JWKS) and forwards it; the service verifies it again and acts for its "
        "`sub`. No public request carries a user id. Health (`grpc.health.v1.Health`) needs no token; "
        "every other path does, including ones with no route."
    )
    yield ""
    yield (
        "**Services** call each other's internal services (never routed by Envoy) with a short-lived "
        f"HS256 token signed with `IRONPATH_SERVICE_TOKEN_SECRET`: audience `{SERVICE_AUDIENCE}`, the "
        f"caller's name as `sub`, valid {SERVICE_TOKEN_TTL_SECONDS} s. A user token is refused on an internal "
        "service and a service token on a public one. Internal requests name the user they act for."
    )
    yield ""
    yield "```mermaid"
    yield "sequenceDiagram"
    yield "    participant C as client (browser, ironpath CLI)"
    yield "    participant S as Supabase Auth"
    yield "    participant E as Envoy :8080"
    yield "    participant P as program_svc"
    yield "    participant G as progress_svc"
    yield "    C->>S: POST /auth/v1/token?grant_type=password"
    yield "    S-->>C: access token (JWT: iss, aud=authenticated, sub, exp)"
    yield "    C->>E: ProgramService/GenerateProgram, Bearer user token"
    yield "    E->>E: jwt_authn: signature, issuer, audience, expiry"
    yield "    E->>P: the call, token forwarded"
    yield "    P->>P: verify the token again; caller = sub"
    yield "    P-->>C: the program"
    yield "    P->>G: ProgressInternalService/InitializeProgramLogs, Bearer service token (outbox)"
    yield "    G->>G: verify: service secret, aud=ironpath-internal"
    yield "```"
    yield ""


def sql_type(column_type: object) -> str:
    """A mermaid-safe word for the PostgreSQL type: `TIMESTAMP WITH TIME ZONE` -> timestamp_with_time_zone,
    `TEXT[]` -> text_array (lengths dropped)."""
    compiled = column_type.compile(dialect=postgresql.dialect())  # type: ignore[attr-defined]
    compiled = re.sub(r"\(.*?\)", "", compiled).replace("[]", " array")
    return re.sub(r"\W+", "_", compiled).strip("_").lower()


def tables_of(service: str) -> list[Table]:
    metadata: MetaData = importlib.import_module(f"{service}_svc.models").Base.metadata
    return sorted(metadata.tables.values(), key=lambda table: table.name)


def er_diagram(service: str) -> Iterator[str]:
    tables = tables_of(service)
    yield f"### {service}_svc (database `ironpath_{service}`)"
    yield ""
    yield "```mermaid"
    yield "erDiagram"
    for table in tables:
        yield f"    {table.name} {{"
        foreign = {fk.parent.name for fk in table.foreign_keys}
        for column in table.columns:
            keys = ",".join(k for k, on in (("PK", column.primary_key), ("FK", column.name in foreign)) if on)
            null = '"nullable"' if column.nullable and not column.primary_key else ""
            yield "        " + " ".join(part for part in (sql_type(column.type), column.name, keys, null) if part)
        yield "    }"
    for table in tables:
        for fk in sorted(table.foreign_keys, key=lambda fk: fk.parent.name):
            target = fk.column.table.name
            yield f'    {target} ||--o{{ {table.name} : "{fk.parent.name}"'
    yield "```"
    yield ""


# ---------------------------------------------------------------------------------------------


def render(files: descriptor_pb2.FileDescriptorSet) -> str:
    ours = sorted((f for f in files.file if f.package.startswith("ironpath.")), key=lambda f: f.name)
    lines = [
        "# IronPath API",
        "",
        "<!-- Generated by `make docs` (tools/gen_api_docs.py) from protos/ and each service's models.py;",
        "     edit those, not this file. A test fails when this file is stale. -->",
        "",
        "Every RPC, message, field and enum of the `protos/` contracts with the comment written in the "
        ".proto file, the authentication flow, and each service's tables. Public services are reached "
        "through the gateway (Envoy, :8080, gRPC and gRPC-Web); internal ones only by other services.",
        "",
        "Contents: [Authentication](#authentication) · "
        + " · ".join(f"[`{f.name}`](#{anchor(f.name)})" for f in ours)
        + " · [Tables](#tables)",
        "",
    ]
    lines += auth_flow()
    for file in ours:
        lines.append(f'<a id="{anchor(file.name)}"></a>')
        lines += render_file(file)
    lines += ["## Tables", ""]
    lines.append(
        "Each service owns its database and Alembic history; no table refers to another service's. "
        "Generated from each service's SQLAlchemy metadata."
    )
    lines.append("")
    for service in SERVICES:
        lines += er_diagram(service)
    return "\n".join(lines).rstrip() + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.gen_api_docs", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    args.out.write_text(render(descriptor_set()), encoding="utf-8")
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
