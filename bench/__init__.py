"""``python -m bench``: the Drift CRM Bridge benchmark suite (``make bench``).

One run measures, on this machine and against the real Pub/Sub emulator:

1. ``publish``   the bare publish round trip (tuned client vs default batching);
2. ``webhook``   the webhook's acknowledgement latency and throughput at 1 and 32 connections,
                 against a no-op functions-framework function (the ceiling), plus the profile;
3. ``worker``    the worker's latency per event with Drift at 50 ms per call, cold and warm,
                 against the sequential baseline, and Drift calls per event;
4. ``e2e``       conversations per second from webhook to CRM through the whole local stack;
5. ``memory``    peak (VmHWM) and steady memory of each function's process group under load
                 (measured during the webhook and e2e runs);
6. ``coldstart`` process start to first answer, and the import time of each main.py alone;
7. ``profile``   pyinstrument over the webhook's request path (bench/profile-webhook.html).

It prints a table and writes bench/results.json. Sections are plain functions
(``bench.<section>.measure(ctx)``); ``--only`` runs some of them.
"""
