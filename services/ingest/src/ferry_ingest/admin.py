"""Operations endpoints for administrators: dead letters, listed and replayed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from ferry_core.tokens import Principal
from ferry_ingest.deadletters import DeadLetters, NotReplayable, Replayed
from ferry_ingest.deps import CurrentUser, Limit, Offset
from ferry_ingest.errors import Conflict, Forbidden, NotFound, error_responses
from ferry_ingest.schemas import DeadLetterList, DeadLetterRecord, ReplayOutcome, ReplayReport, dead_letter_of


def _admin(user: CurrentUser) -> Principal:
    if not user.is_admin:
        raise Forbidden("administrators only")
    return user


def _dead_letters(request: Request) -> DeadLetters:
    dead: DeadLetters = request.app.state.dead_letters
    return dead


Admin = Annotated[Principal, Depends(_admin)]
DeadLetterBox = Annotated[DeadLetters, Depends(_dead_letters)]

_NO_LETTER = "No such dead letter"

router = APIRouter(prefix="/admin", tags=["admin"])


@router.get("/dead-letters", response_model=DeadLetterList, responses=error_responses(401, 403, 422))
async def list_dead_letters(
    _: Admin,
    dead: DeadLetterBox,
    queue: str | None = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> DeadLetterList:
    """Messages a queue gave up on, newest first (optionally of one queue)."""
    docs, total = await dead.store.page(queue, limit, offset)
    return DeadLetterList(items=[dead_letter_of(d) for d in docs], total=total, limit=limit, offset=offset)


@router.get(
    "/dead-letters/{letter_id}",
    response_model=DeadLetterRecord,
    responses=error_responses(401, 403, 404, _404=_NO_LETTER),
)
async def get_dead_letter(letter_id: str, _: Admin, dead: DeadLetterBox) -> DeadLetterRecord:
    doc = await dead.store.get(letter_id)
    if doc is None:
        raise NotFound("dead letter not found")
    return dead_letter_of(doc)


@router.post("/dead-letters/replay", response_model=ReplayReport, responses=error_responses(401, 403, 422))
async def replay_dead_letters(_: Admin, dead: DeadLetterBox, queue: str | None = None) -> ReplayReport:
    """Send every dead letter (of ``queue``, if given) back to the queue it died in."""
    return _report(await dead.replay_all(queue))


@router.post(
    "/dead-letters/{letter_id}/replay",
    response_model=ReplayReport,
    responses=error_responses(401, 403, 404, 409, _404=_NO_LETTER, _409="The dead letter cannot be replayed"),
)
async def replay_dead_letter(letter_id: str, _: Admin, dead: DeadLetterBox) -> ReplayReport:
    """Send one dead letter back to the queue it died in; a dead upload's file is queued again."""
    try:
        result = await dead.replay(letter_id)
    except NotReplayable as exc:
        raise Conflict(str(exc)) from None
    if result is None:
        raise NotFound("dead letter not found")
    return _report([result])


@router.delete("/dead-letters/{letter_id}", status_code=204, responses=error_responses(401, 403, 404, _404=_NO_LETTER))
async def discard_dead_letter(letter_id: str, _: Admin, dead: DeadLetterBox) -> None:
    """Forget a dead letter without replaying it."""
    if not await dead.store.remove(letter_id):
        raise NotFound("dead letter not found")


def _report(results: list[Replayed]) -> ReplayReport:
    items = [ReplayOutcome(id=r.letter_id, outcome=r.outcome) for r in results]  # type: ignore[arg-type]
    return ReplayReport(
        replayed=sum(1 for r in results if r.outcome == "replayed"),
        discarded=sum(1 for r in results if r.outcome == "discarded"),
        items=items,
    )
