#!/usr/bin/env python3
"""Validates OTLP/HTTP JSON log payloads with the official protobuf definitions.

Usage: check-otlp-json.py FILE...   (each file: one ExportLogsServiceRequest as JSON)

OTLP's JSON mapping writes traceId/spanId as hex, where protobuf's generic JSON parser expects
base64, so the ids are converted first; then the whole payload must parse, and every id must
decode to 16 (trace) and 8 (span) bytes. Exit 0 when every file is valid.
"""
import base64
import json
import sys

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest


def hex_ids_to_base64(payload):
    for resource_logs in payload.get("resourceLogs", []):
        for scope_logs in resource_logs.get("scopeLogs", []):
            for record in scope_logs.get("logRecords", []):
                for key in ("traceId", "spanId"):
                    if key in record:
                        record[key] = base64.b64encode(bytes.fromhex(record[key])).decode()
    return payload


def check(path):
    with open(path, encoding="utf-8") as handle:
        payload = hex_ids_to_base64(json.load(handle))
    request = json_format.Parse(json.dumps(payload), ExportLogsServiceRequest())
    records = 0
    for resource_logs in request.resource_logs:
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                records += 1
                if record.trace_id and len(record.trace_id) != 16:
                    raise ValueError(f"trace id of {len(record.trace_id)} bytes")
                if record.span_id and len(record.span_id) != 8:
                    raise ValueError(f"span id of {len(record.span_id)} bytes")
                if record.time_unix_nano == 0 or record.severity_number == 0:
                    raise ValueError("a record without time or severity")
    if records == 0:
        raise ValueError("no log records")
    return records


def main():
    failed = False
    for path in sys.argv[1:]:
        try:
            print(f"{path}: {check(path)} records, valid")
        except Exception as error:  # report every file, then fail
            print(f"{path}: INVALID: {error}", file=sys.stderr)
            failed = True
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
