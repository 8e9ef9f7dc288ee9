"""Client logic that needs no server: request batching and the fingerprint prediction."""

from __future__ import annotations

import pytest

from soce_bo.errors import ServerError
from soce_bo.evaluate.benchmark import GenRequest
from soce_bo.serve.client import PoolInfo, SoupClient
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


def test_checksum_prediction_is_linear_with_dtype_tolerance():
    client = SoupClient("http://127.0.0.1:1")
    pool = PoolInfo(paths=("a", "b"), n_tensors=3, dtype="float32", checksums=(10.0, 20.0),
                    abs_checksums=(10.0, 20.0), fingerprint_names=("n",), load_s=0.0)
    client.pool = pool
    expected, tol = client.expected_checksum([0.25, 0.75])
    assert expected == pytest.approx(17.5) and 0 < tol < 1e-4
    client.pool = PoolInfo(**{**pool.__dict__, "dtype": "bfloat16"})
    assert client.expected_checksum([0.25, 0.75])[1] > 1e-2  # bf16 rounds far more


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
