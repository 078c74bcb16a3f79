#!/usr/bin/env python3
"""Writes the seed corpora fuzz/corpus/<name>/ and is the record of where each seed comes from:
SAS tokens signed as Microsoft's SDKs sign them (Node encodeURIComponent, C/.NET/Python field
orders), connection strings as the portal and SDKs print them, the IoT Hub MQTT topics and CONNECT
user names of shared/reference/iothub-protocol.md, twin patches, IoT Hub queries and REST requests.
Run it from the repository root: python3 fuzz/seeds.py (files are named by content hash)."""
import base64
import hashlib
import hmac
import os
import urllib.parse

KEY1 = "/+MlfCDwB4XemwS84MPGOfZj2z3qKtQVxPQyK+uBsEs="
KEY2 = "bXlzZWNyZXRrZXltb2NraHViMDEyMzQ1Njc4OWFiY2Q="
FAR = 4102444800  # 2100-01-01: valid for the fuzzers' NOW of 1700000000


def enc(s):  # JavaScript encodeURIComponent
    return urllib.parse.quote(s, safe="-_.!~*'()")


def sas(resource, key, se, skn=None, order="c"):
    sr = enc(resource)
    mac = hmac.new(base64.b64decode(key), (sr + "\n" + str(se)).encode(), hashlib.sha256).digest()
    sig = enc(base64.b64encode(mac).decode())
    f = {"sr": sr, "sig": sig, "se": str(se)}
    if skn is not None:
        f["skn"] = skn
    keys = {"c": ["sr", "sig", "se", "skn"], "node": ["sr", "sig", "skn", "se"],
            "py": ["skn", "sr", "sig", "se"]}[order]
    return "SharedAccessSignature " + "&".join(k + "=" + f[k] for k in keys if k in f)


def write(name, items):
    d = os.path.join("fuzz", "corpus", name)
    os.makedirs(d, exist_ok=True)
    for it in items:
        b = it.encode() if isinstance(it, str) else it
        with open(os.path.join(d, hashlib.sha1(b).hexdigest()[:16]), "wb") as f:
            f.write(b)


HUB = "myhub.azure-devices.net"
tok_dev1 = sas("localhost/devices/dev1", KEY1, FAR)
tok_dev1_k2 = sas("localhost/devices/dev1", KEY2, FAR, order="node")
tok_off1 = sas("localhost/devices/off1", KEY1, FAR)
tok_expired = sas("localhost/devices/dev1", KEY1, 1600000000)
tok_svc = sas(HUB, KEY1, FAR, "iothubowner")
tok_svc_node = sas(HUB, KEY2, FAR, "service", order="node")
tok_svc_py = sas(HUB, KEY1, FAR, "iothubowner", order="py")
tok_module = sas(HUB + "/devices/dev1/modules/m1", KEY1, FAR)
tok_lower = tok_dev1.replace("%2F", "%2f")

write("sas", [tok_dev1, tok_dev1_k2, tok_expired, tok_svc, tok_svc_node, tok_svc_py, tok_module, tok_lower,
              sas(HUB + "/devices/dev +#@x", KEY2, 1700000000),
              "SharedAccessSignature sr=a&sr=b&sig=TMx5vCxEAH63BGuCnmW4r0A9GxfbHvB2tIvvCGHRCgA%3D&se=1700000000",
              "SharedAccessSignature sr=" + HUB + "&se=1700000000",
              "SharedAccessSignature sr=h&sig=%ZZ&se=-1&unknown=x"])

write("connstr", [
    "HostName=myhub.azure-devices.net;DeviceId=dev1;SharedAccessKey=" + KEY1,
    "HostName=localhost;DeviceId=dev1;ModuleId=m1;SharedAccessKey=" + KEY1 + ";GatewayHostName=localhost:8885;",
    "HostName=h;DeviceId=d;x509=true",
    "HostName=localhost;DeviceId=dev1;SharedAccessSignature=" + tok_dev1,
    "HostName=myhub.azure-devices.net;SharedAccessKeyName=iothubowner;SharedAccessKey=" + KEY1,
    "HostName=myhub.azure-devices.net;SharedAccessKeyName=service;SharedAccessKey=" + KEY2 + ";",
    "HostName=h;DeviceId=d;SharedAccessKey=" + KEY1 + ";DeviceId=e",
    "HostName=h;DeviceId;SharedAccessKey=" + KEY1,
    "HostName=;DeviceId=d;x509=yes;;",
])

users = [
    "localhost/dev1/?api-version=2021-04-12&DeviceClientType=azure-iot-device%2F1.18.4%20(node%20v20.20.2%3B%20Debian%2012%3B%20x64)",
    "localhost/dev1/?api-version=2020-09-30&DeviceClientType=iothubclient%2f1.9.0%20(native%3b%20Linux%3b%20aarch64)",
    "localhost/dev1/?api-version=2021-04-12&model-id=dtmi:com:example:Thermostat;1&DeviceClientType=x",
    "localhost/dev1/?api-version=2020-09-30&DeviceClientType=azsdk-c%2F1.5.0&model-id=dtmi%3Acom%3Aexample%3BThermostat%3B1",
    "localhost/dev1/api-version=2016-11-14&DeviceClientType=legacy",
    "localhost/dev1/m1/?api-version=2021-04-12",
    "localhost/dev1",
    "LOCALHOST/dev1/?api-version=2021-04-12",
]
write("devauth", ["dev1\n%s\n%s" % (users[0], tok_dev1), "dev1\n%s\n%s" % (users[1], tok_dev1_k2),
                  "dev1\n%s\n%s" % (users[2], tok_dev1), "dev1\n%s\n%s" % (users[3], tok_dev1),
                  "dev1\n%s\n%s" % (users[4], tok_expired), "dev1\n%s\n%s" % (users[5], tok_module),
                  "off1\nlocalhost/off1/?api-version=2021-04-12\n" + tok_off1,
                  "x509\nlocalhost/x509/?api-version=2021-04-12\n" + tok_dev1,
                  "dev1\n%s\n%s" % (users[6], tok_svc), "dev1\n" + users[7], "$mockhub-hub\n$mockhub\nsecret"])

write("topic", [
    "$iothub/twin/GET/?$rid=1", "$iothub/twin/GET/?$rid=0c1b4a8e-2f7d-4c36-9d67-3f0b2c9c5a11",
    "$iothub/twin/PATCH/properties/reported/?$rid=2", "$iothub/twin/PATCH/properties/reported/?$rid=7&$version=3",
    "$iothub/twin/PATCH/properties/reported/?$version=12&x=y&$rid=ab",
    "$iothub/twin/PATCH/properties/reported/?$rid=3&$version=1&$version=2",
    "$iothub/methods/res/200/?$rid=1", "$iothub/methods/res/404/?$rid=42",
    "devices/dev1/messages/events/", "devices/dev1/messages/events",
    "devices/dev1/messages/events/%24.mid=42&%24.ct=application%2Fjson&%24.ce=utf-8",
    "devices/dev1/messages/events/$.ct=application%2Fjson&$.ce=utf-8&temperatureAlert=true/",
    "devices/dev1/messages/events/%24.to=%2Fdevices%2Fdev1%2Fmessages%2Fevents&iothub-ack=none&k",
    "devices/dev1/modules/m1/messages/events/", "devices/dev1/messages/devicebound/#",
    "devices/+/messages/devicebound/#", "$iothub/methods/POST/#", "$iothub/twin/res/#",
    "$iothub/twin/PATCH/properties/desired/#", "$iothub/twin/PATCH/properties/desired/?$version=2",
    "$iothub/methods/POST/rebootDevice/?$rid=1", "$iothub/twin/res/204/?$rid=5&$version=7",
])

twin_docs = [
    '{"rebootTime":"2024-01-10T10:00:00.000Z"}',
    '{"telemetryConfig":{"sendFrequency":"5m","status":"Success"},"connectivity":"wired"}',
    '{"a":{"b":null,"d":{"e":[2]}},"g":null,"new":{"x":{"y":{"z":1}}}}',
    '{"n":4503599627370495,"m":-4503599627370496,"f":1.5e3,"t":true,"s":"\\u00e9\\ud83d\\ude00"}',
    '{"k\\u0000":1}', '{"$version":3}', '{"a.b":1}', '{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":{"a":1}}}}}}}}}}}',
    '{"big":"' + "x" * 4097 + '"}', '{"a":1,"a":{"b":2}}',
]
service_bodies = [
    '{"tags":{"region":"US","plant":{"floor":2}},"properties":{"desired":{"telemetryInterval":30}}}',
    '{"deviceId":"dev1","etag":"AAAAAAAAAAE=","tags":null,"properties":{"desired":null,"reported":{"x":1}}}',
    '{"properties":{"desired":{"$metadata":{},"$version":4,"x":{"y":null}}}}',
    '{"tags":{"a":[1,{"b":2}]},"properties":null}',
]
write("twin", [b"\x00" + d.encode() for d in twin_docs] + [b"\x01" + d.encode() for d in service_bodies] +
      [b"\x02" + d.encode() for d in service_bodies] +
      [b"\x03" + s.encode() for s in ['"AAAAAAAAAAE="', 'W/"AAAAAAAAAAE="', "*", '"*"', "\xc3\xa9\xed\xa0\x80"]] +
      [b"\x00{" + b",".join(b'"k%d":"%s"' % (i, b"v" * 200) for i in range(170)) + b"}"])

write("query", [
    "SELECT * FROM devices",
    "SELECT * FROM devices WHERE tags.location.region = 'US'",
    "SELECT * FROM devices WHERE properties.reported.connectivity IN ['wired', 'wifi']",
    "SELECT * FROM devices WHERE properties.reported.rebootTime > '2024-01-01T00:00:00Z' AND NOT tags.flag",
    "SELECT * FROM devices WHERE is_defined(properties.reported.rebootTime) OR STARTS_WITH(deviceId, 'dev')",
    "SELECT * FROM devices WHERE tags.[[my key!]] = 1 AND tags.list[2] = 1 AND tags.o['p'] = null",
    "SELECT * FROM devices WHERE a + b * c - d / e % f > -g OR x NIN [1,-2,16,true,null,[\"a\"]]",
    "SELECT * FROM devices WHERE deviceId IN ['dev-01', \"dev'q\", 'x\\u0041\\\\']",
    "SELECT TOP 2 deviceId, tags.region AS r, properties.desired.$version FROM devices WHERE status = 'enabled'",
    "SELECT COUNT() AS numberOfDevices FROM devices",
    "SELECT properties.reported.telemetryConfig.status AS status, COUNT() AS numberOfDevices FROM devices "
    "GROUP BY properties.reported.telemetryConfig.status",
    "SELECT SUM(tags.n), AVG(properties.reported.temp), MIN(x), MAX(x) FROM devices WHERE tags.n >= 0x10",
    "SELECT * FROM devices.modules WHERE moduleId = 'm'",
    "SELECT * FROM devices WHERE properties.desired.$metadata.x.$lastUpdated > '2024'",
    "select * from DEVICES where Tags.region = 'US' and lastActivityTime > '2024' and connectionState = 'Connected'",
    "SELECT * FROM devices WHERE (tags.x > 1) = true AND 1.5e3 > 2 AND -tags.n < 0",
])

write("rest", [
    "GET /devices/dev1?api-version=2021-04-12\n",
    "PUT /devices/dev1?api-version=2021-04-12\n{\"deviceId\":\"dev1\",\"status\":\"enabled\",\"authentication\":"
    "{\"type\":\"sas\",\"symmetricKey\":{\"primaryKey\":\"\",\"secondaryKey\":\"\"}}}",
    "DELETE /devices/dev%2B1?api-version=2021-04-12\n",
    "GET /devices/?top=1000&api-version=2021-04-12\n",
    "POST /devices/query?api-version=2021-04-12\n{\"query\":\"SELECT * FROM devices\"}",
    "GET /twins/dev1?api-version=2021-04-12\n",
    "PATCH /twins/dev1?api-version=2021-04-12\n{\"properties\":{\"desired\":{\"x\":1}}}",
    "PUT /twins/dev1?api-version=2020-09-30\n{\"tags\":{}}",
    "POST /twins/dev1/methods?api-version=2021-04-12\n{\"methodName\":\"rebootDevice\",\"responseTimeoutInSeconds\":30,"
    "\"connectTimeoutInSeconds\":0,\"payload\":null}",
    "POST /twins/dev1/methods\n{\"methodName\":\"bad name\",\"responseTimeoutInSeconds\":1.5}",
    "GET /mockhub/events?after=0&limit=100&deviceId=dev1\n",
    "GET /mockhub/events?after=-1&limit=1001&deviceId=a%00b+c\n",
    "GET /statistics/devices?api-version=2021-04-12\n", "GET /health\n",
    "GET /devices/dev1/modules/m1?api-version=2021-04-12\n", "DELETE /devices/dev1/commands\n",
    "POST /twins/%24dev%2F1/methods\n null ",
])


def amqp_frame(channel, body, ftype=0):
    return (8 + len(body)).to_bytes(4, "big") + bytes([2, ftype]) + channel.to_bytes(2, "big") + body


def perf(code, items=b"\x45"):
    return bytes([0x00, 0x53, code]) + items


# AMQP: the first byte picks the filter's chunk and room sizes; the rest is a client's byte stream as
# the trace of @azure/event-hubs 6.0.4 against the hub shows it (SASL ANONYMOUS, OPEN, BEGIN, then
# rhea's DETACH, END, DISPOSITION on the ended channel), and link addresses / selectors as the SDKs
# send them (amqp-protocol.md 3-5).
_anon = bytes([0xa3, 9]) + b"ANONYMOUS"
_begin = perf(0x11, bytes([0xc0, 13, 4, 0x40, 0x43, 0x70, 0, 0, 8, 0, 0x70, 0xff, 0xff, 0xff, 0xff]))
_rhea = (b"AMQP\x03\x01\x00\x00" + amqp_frame(0, perf(0x41, bytes([0xc0, 1 + len(_anon), 1]) + _anon), 1) +
         b"AMQP\x00\x01\x00\x00" + amqp_frame(0, perf(0x10, bytes([0xc0, 4, 1, 0xa1, 1, 0x74]))) +
         amqp_frame(0, _begin) + amqp_frame(5, _begin) +
         amqp_frame(5, perf(0x16, bytes([0xc0, 3, 2, 0x43, 0x41]))) + amqp_frame(5, perf(0x17)) +
         amqp_frame(5, perf(0x15, bytes([0xc0, 10, 5, 0x41, 0x43, 0x52, 1, 0x41, 0x00, 0x53, 0x24, 0x45]))) +
         amqp_frame(0, perf(0x17)) + amqp_frame(0, perf(0x18)))
write("amqp", [
    b"\x00" + _rhea, b"\x41" + _rhea, b"\xff" + _rhea,
    b"\x07" + amqp_frame(3, b"") + amqp_frame(5, bytes([0x00, 0x80, 0, 0, 0, 0, 0, 0, 0, 0x17, 0x45])),
    "$cbs", "amqps://myhub.azure-devices.net:5671/messages/devicebound", "/messages/serviceBound/feedback",
    "myhub/ConsumerGroups/$Default/Partitions/3", "sb://x/myhub/$management", "/devices/d1/messages/events",
    "amqp.annotation.x-opt-offset > '-1'", "amqp.annotation.x-opt-sequence-number >= '5'",
    "amqp.annotation.x-opt-enqueued-time > '1700000000000'", "amqp.annotation.x-opt-offset > '@latest'",
])
