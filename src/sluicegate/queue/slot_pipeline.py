"""Commands sent on one connection to the cluster node that owns a key's slot.

``WAITAOF`` waits for the writes of *its own connection*, so on a cluster the enqueue script and
its ``WAITAOF`` must reach the same node on the same connection. redis-py's cluster pipeline does
that when every command names the node (``target_nodes``); its own redirection handling would
resend the script alone, to another node, and leave ``WAITAOF`` confirming nothing. So
redirections are followed here, for the whole group: MOVED (the slot has moved: learn the slots
again, resend to the new owner) and ASK (the slot is migrating and the key already left: resend
to the importing node, after ``ASKING``). Either answer means the script did not run, so sending
it again appends nothing twice.
"""

from typing import Any, cast

import redis.asyncio
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.exceptions import AskError, MovedError, TryAgainError

# A migration moves a slot in a few steps; a handful of redirections covers it. More: answer 503.
_MAX_REDIRECTS = 5


async def send_to_slot_owner(
    client: "redis.asyncio.Redis", key: str, commands: list[tuple[Any, ...]]
) -> list[Any]:
    """Run ``commands`` in order on the node serving ``key``; their replies, in order."""
    cluster = cast(RedisCluster, client)
    await cluster.initialize()
    node = _owner(cluster, key)
    asking = False
    for _ in range(_MAX_REDIRECTS):
        try:
            return await _send(cluster, node, commands, asking)
        except MovedError:
            await cluster.nodes_manager.initialize()
            node, asking = _owner(cluster, key), False
        except AskError as error:
            node, asking = await _node_at(cluster, error.host, error.port), True
    raise TryAgainError(f"the slot of {key} kept moving ({_MAX_REDIRECTS} redirections)")


async def _send(
    cluster: RedisCluster, node: ClusterNode, commands: list[tuple[Any, ...]], asking: bool
) -> list[Any]:
    pipe = cluster.pipeline()
    if asking:
        pipe.execute_command("ASKING", target_nodes=node)
    for command in commands:
        pipe.execute_command(*command, target_nodes=node)
    replies = await pipe.execute(allow_redirections=False)
    return replies[1:] if asking else replies


def _owner(cluster: RedisCluster, key: str) -> ClusterNode:
    node = cluster.get_node_from_key(key)
    if node is None:
        raise TryAgainError(f"no node serves the slot of {key} now")
    return node


async def _node_at(cluster: RedisCluster, host: str, port: int) -> ClusterNode:
    node = cluster.get_node(host=host, port=port)
    if node is None:  # a node this client has not met yet
        await cluster.nodes_manager.initialize()
        node = cluster.get_node(host=host, port=port)
    if node is None:
        raise TryAgainError(f"redirected to {host}:{port}, which the cluster does not list")
    return node
