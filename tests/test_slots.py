"""FairSlots: Mistral's slots go to the chat, then the note, holding the fewest."""

from __future__ import annotations

import asyncio

from bot.transcription.slots import FairSlots, Owner


async def test_a_freed_slot_goes_to_the_chat_holding_the_fewest() -> None:
    slots = FairSlots(2)
    order: list[Owner] = []
    release = asyncio.Event()

    async def use(owner: Owner) -> None:
        async with slots.hold(owner):
            order.append(owner)
            await release.wait()

    group = [("group", n) for n in range(5)]
    private = ("private", 0)
    tasks = [asyncio.create_task(use(owner)) for owner in group]
    await asyncio.sleep(0)  # every group note has asked: two hold the slots, three wait
    assert slots.waiting == 3
    tasks.append(asyncio.create_task(use(private)))
    await asyncio.sleep(0)
    assert slots.waiting == 4
    release.set()
    await asyncio.gather(*tasks)
    # The private chat, arriving last, was served first after the two the group already held.
    assert order[:2] == group[:2]
    assert order[2] == private
    assert order[3:] == group[2:]
    assert slots.held(("group",)) == 0 and slots.waiting == 0


async def test_a_cancelled_waiter_gives_up_its_place() -> None:
    slots = FairSlots(1)
    gate = asyncio.Event()
    served: list[Owner] = []

    async def use(owner: Owner) -> None:
        async with slots.hold(owner):
            served.append(owner)
            await gate.wait()

    first = asyncio.create_task(use(("a", 1)))
    await asyncio.sleep(0)
    doomed = asyncio.create_task(use(("b", 1)))
    later = asyncio.create_task(use(("c", 1)))
    await asyncio.sleep(0)
    doomed.cancel()
    gate.set()
    await asyncio.gather(first, later)
    assert served == [("a", 1), ("c", 1)]
    assert doomed.cancelled()
    assert slots.waiting == 0
