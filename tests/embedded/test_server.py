import pytest

from sluicegate.embedded.server import EmbeddedServer
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
