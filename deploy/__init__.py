"""How SmartSupport runs on a machine: the processes of ``make run`` and the Redis server it embeds.

Nothing here is needed by the domain (smartsupport/), the API (web/) or the tasks (workers/); it only
starts them.
"""
