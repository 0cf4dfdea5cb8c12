"""What the API gives away without meaning to: series a client adds to /metrics at will, files
outside the dashboard, the server's paths, and its own Host header echoed back (real Redis)."""

import re


HTTP_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def _methods_in(metrics: str) -> set[str]:
    return set(re.findall(r'smartsupport_http_request_duration_seconds_count\{[^}]*method="([^"]*)"', metrics))


def test_a_method_the_api_does_not_know_adds_no_series_of_its_own(client, operator):
    # When a client sends methods of its own invention (any token of up to 20 letters reaches the app)
    for method in ("BREW", "PROPFIND", "XYZZYQWERTYASDFGHJKL", "WHATEVERYOULIKE"):
        client.open("/api/tickets", method=method, headers=operator)
    client.get("/api/meta", headers=operator)

    # Then they are counted under one method, "other", beside the methods HTTP defines
    methods = _methods_in(client.get("/metrics").text)
    assert "other" in methods and "GET" in methods
    assert methods <= HTTP_METHODS | {"other"}
