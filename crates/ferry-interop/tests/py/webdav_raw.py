#!/usr/bin/env python3
"""Raw WebDAV requests with Python's stdlib http.client against ferryd.

Usage:
  webdav_raw.py checks HOST PORT USER PASSWORD
  webdav_raw.py flood HOST PORT PATH COUNT EXPECTED_ENTRIES

`checks` sends requests no WebDAV library would (OPTIONS without credentials, PROPFIND with
Depth infinity, Destinations that leave the folder or the server) and checks the statuses.
`flood` sends COUNT PROPFIND Depth 1 requests for PATH (anonymous), each on a new connection:
most read only the status line and hang up mid-body (a hostile client), every 500th reads the
whole multistatus and counts EXPECTED_ENTRIES responses in it. Prints one line per check and
raises (exit status 1) on the first surprise.
"""

import base64
import http.client
import sys
import time

TIMEOUT = 20


def check(condition, what, detail=""):
    if not condition:
        raise AssertionError(f"{what}: {detail!r}")
    print(f"ok: {what}")


def send(host, port, method, path, headers=None, body=None):
    connection = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response, data


def checks(host, port, user, password):
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    auth = {"Authorization": f"Basic {token}"}

    response, _ = send(host, port, "OPTIONS", "/")
    check(response.status < 300, "OPTIONS without credentials answers", response.status)
    check(response.getheader("DAV", "").replace(" ", "").startswith("1,2"),
          "OPTIONS says DAV: 1, 2", response.getheader("DAV"))

    response, _ = send(host, port, "PROPFIND", "/", {"Depth": "1"})
    check(response.status == 401, "PROPFIND without credentials is 401", response.status)

    response, body = send(host, port, "PROPFIND", "/", {**auth, "Depth": "1"})
    check(response.status == 207, "PROPFIND Depth 1 is 207", response.status)
    check(b"multistatus" in body, "a multistatus body", body[:200])

    response, body = send(host, port, "PROPFIND", "/", {**auth, "Depth": "infinity"})
    check(response.status == 403, "PROPFIND Depth infinity is 403", response.status)
    check(b"propfind-finite-depth" in body, "with the propfind-finite-depth precondition", body)

    for destination, status in [
        (f"http://{host}:{port}/../outside.txt", 403),
        (f"http://{host}:{port}/%2e%2e/outside.txt", 403),
        ("/../../outside.txt", 403),
        (f"http://{host}:{port}/a%5c..%5coutside.txt", 400),
        ("http://other.invalid/inside.txt", 502),
    ]:
        for method in ("MOVE", "COPY"):
            response, _ = send(host, port, method, "/inside.txt",
                               {**auth, "Destination": destination})
            check(response.status == status, f"{method} to {destination} is {status}",
                  response.status)

    response, _ = send(host, port, "COPY", "/inside.txt",
                       {**auth, "Destination": f"http://{host}:{port}/copied.txt"})
    check(response.status == 201, "COPY inside the folder is 201", response.status)
    response, body = send(host, port, "GET", "/copied.txt", auth)
    check(body == b"inside", "the copy has the bytes", body)


def flood(host, port, path, count, expected):
    started = time.monotonic()
    for index in range(count):
        connection = http.client.HTTPConnection(host, port, timeout=TIMEOUT)
        connection.request("PROPFIND", path, headers={"Depth": "1"})
        response = connection.getresponse()
        if response.status != 207:
            raise AssertionError(f"request {index}: status {response.status}")
        if index % 500 == 0:
            body = response.read()
            responses = body.count(b"<D:response>") + body.count(b"<D:response ")
            if responses != expected:
                raise AssertionError(f"request {index}: {responses} responses, not {expected}")
        else:
            response.read(512)
        connection.close()
    print(f"ok: {count} PROPFIND Depth 1 in {time.monotonic() - started:.1f} s")


def main():
    mode = sys.argv[1]
    if mode == "checks":
        checks(sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5])
    elif mode == "flood":
        flood(sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), int(sys.argv[6]))
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
