"""Client logic that needs no server: request batching and the fingerprint prediction."""

from __future__ import annotations

import pytest

from soce_bo.errors import ServerError
from soce_bo.evaluate.benchmark import GenRequest
from soce_bo.serve.client import SoupClient
from soce_bo.serve.worker_ext import canonical_weights_digest


def test_chunks_share_decoding_limits_and_cover_every_request():
    client = SoupClient("http://127.0.0.1:1", prompts_per_request=2)
    reqs = [GenRequest("a", 8, ("\n",)), GenRequest("b", 64, ("\n",)), GenRequest("c", 8, ("\n",)),
            GenRequest("d", 8, ("\n",)), GenRequest("e", 8, ())]
    chunks = client.chunks(reqs)
    assert sorted(i for c in chunks for i in c) == list(range(len(reqs)))
    assert all(len(c) <= 2 for c in chunks)
    for chunk in chunks:
        assert len({(reqs[i].max_tokens, reqs[i].stop) for i in chunk}) == 1
    assert [0, 2] in chunks and [3] in chunks  # order kept inside a group
    body = client.completion_body(["x", "y"], 8, ("\n",))
    assert body["temperature"] == 0.0 and body["prompt"] == ["x", "y"]
    assert body["include_stop_str_in_output"] is False and body["skip_special_tokens"] is True


def test_fingerprint_must_match_exactly():
    client = SoupClient("http://127.0.0.1:1")
    ok = {"rank": 0, "checksum": [1.5, 2.5], "expected_checksum": [1.5, 2.5], "fingerprint_match": True}
    client._check_fingerprint(ok, "the soup")
    for bad in ({**ok, "fingerprint_match": False}, {**ok, "expected_checksum": [1.5, 2.5000000001]}):
        with pytest.raises(ServerError, match="fingerprint mismatch on rank 0"):
            client._check_fingerprint(bad, "the soup")


def test_unknown_storage_is_refused():
    with pytest.raises(ServerError, match="expert storage"):
        SoupClient("http://127.0.0.1:1", storage="gpu")


def test_digest_depends_on_pool_and_weights():
    a = canonical_weights_digest(["x", "y"], [0.5, 0.5])
    assert a == canonical_weights_digest(["x", "y"], [0.5, 0.5])
    assert a != canonical_weights_digest(["y", "x"], [0.5, 0.5])
    assert a != canonical_weights_digest(["x", "y"], [0.25, 0.75])


def test_apply_before_load_pool_and_dead_url_are_server_errors():
    client = SoupClient("http://127.0.0.1:9", timeout_s=2)  # port 9 (discard): nothing listens
    with pytest.raises(ServerError, match="load_pool"):
        client.apply([1.0])
    with pytest.raises(ServerError, match="failed on http://127.0.0.1:9"):
        client.load_pool(["/nonexistent"])
    assert client.health() is False
