import pytest

from sluicegate.embedded.server import EmbeddedServer, host_memory_bytes, maxmemory_bytes
from sluicegate.errors import EmbeddedServerError


def test_one_server_per_data_folder(redis_server):
    with pytest.raises(EmbeddedServerError, match="another server is running"):
        EmbeddedServer(redis_server.data_dir).start()


def test_restarts_keep_data_and_the_folder(redis_server, redis_client):
    redis_client.set("kept", "yes")
    redis_server.restart(hard=True)  # SIGKILL: the AOF (appendfsync always) has the write
    assert redis_client.get("kept") == b"yes"
    redis_server.restart()
    assert redis_client.get("kept") == b"yes"


def test_the_embedded_maxmemory_is_a_quarter_of_the_host_unless_set():
    assert maxmemory_bytes("auto") == host_memory_bytes() // 4
    assert maxmemory_bytes("64mb") == 64 * 1024 * 1024
