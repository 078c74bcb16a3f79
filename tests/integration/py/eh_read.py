#!/usr/bin/python3
"""Reads D2C telemetry from mockhub's Event Hubs-compatible endpoint with Debian's azure-eventhub
(python3-azure; its own pure-Python AMQP stack, TLS on 5671 only).

usage: eh_read.py CONNECTION_STRING CA_FILE DEVICE_ID COUNT TIMEOUT_S [START [TRANSPORT]]
Prints one JSON line per event of DEVICE_ID (body, properties, system properties, annotations) and
exits 0 once COUNT of them arrived, 3 on timeout. START: "-1" (from the start, default) or "@latest".
TRANSPORT: "pyamqp" (default) or "uamqp" (python3-uamqp, uamqp_transport=True).
"""
import base64
import json
import logging
import os
import sys
import threading

from azure.eventhub import EventHubConsumerClient, __version__


def text(v):
    if isinstance(v, bytes):
        try:
            return v.decode("utf-8")
        except UnicodeDecodeError:
            return "base64:" + base64.b64encode(v).decode()
    if isinstance(v, (int, float, str, bool)) or v is None:
        return v
    return str(v)


def main():
    cs, ca, device_id, count, timeout = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
    start = sys.argv[6] if len(sys.argv) > 6 else "-1"
    uamqp = len(sys.argv) > 7 and sys.argv[7] == "uamqp"
    print(json.dumps({"version": __version__}), flush=True)
    debug = bool(os.environ.get("EH_READ_DEBUG"))  # frame traces (uamqp: on stdout) and DEBUG logging
    if debug:
        logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
    client = EventHubConsumerClient.from_connection_string(cs, consumer_group="$default", connection_verify=ca,
                                                     uamqp_transport=uamqp, logging_enable=debug)
    got = []
    done = threading.Event()

    def on_event(_ctx, event):
        if event is None:
            return
        sp = {text(k): text(v) for k, v in (event.system_properties or {}).items()}
        if sp.get("iothub-connection-device-id") != device_id:
            return
        got.append(1)
        print(json.dumps({
            "partition": _ctx.partition_id,
            "body": event.body_as_str(encoding="utf-8"),
            "properties": {text(k): text(v) for k, v in (event.properties or {}).items()},
            "system": sp,
            "sequence_number": event.sequence_number,
            "offset": event.offset,
            "enqueued_time": event.enqueued_time.isoformat() if event.enqueued_time else None,
            "message_id": text(event.message_id) if hasattr(event, "message_id") else None,
            "content_type": event.content_type,
        }), flush=True)
        if len(got) >= count:
            done.set()

    def on_error(_ctx, err):
        print(json.dumps({"error": repr(err)}), flush=True)

    def stopper():
        done.wait(timeout)
        client.close()

    threading.Thread(target=stopper, daemon=True).start()
    with client:
        client.receive(on_event=on_event, on_error=on_error, starting_position=start, max_wait_time=1)
    sys.exit(0 if len(got) >= count else 3)


if __name__ == "__main__":
    main()
