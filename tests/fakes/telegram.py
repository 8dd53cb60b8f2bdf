"""A fake Telegram Bot API server for tests: the real python-telegram-bot talks to it over HTTP.

It runs on 127.0.0.1 in the test's event loop (aiohttp), answers as the Bot API does
(https://core.telegram.org/bots/api, ``shared/specs/telegram-bot-api.json``), keeps one message
store per chat shared by users and the bot, and records every request so tests can assert on what
the bot sent. Methods of the spec that the fake does not implement answer 500, so a test fails
loudly instead of passing on a made-up answer.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import json
import math
import mimetypes
import socket
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from aiohttp import BodyPartReader, web

from tests.fakes.tg_html import EntityParseError, parse_html, trim, utf16_len

T = TypeVar("T")

TOKEN = "123456789:AAH-fake-token-for-tests-0123456789ab"

# A copy of shared/specs/telegram-bot-api.json (MIT), so a fresh clone tests on its own.
SPEC_PATH = Path(__file__).resolve().parent / "specs" / "telegram-bot-api.json"

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
CLOUD_DOWNLOAD_LIMIT = 20 * 1024 * 1024
CLOUD_UPLOAD_LIMIT = 50 * 1024 * 1024
LOCAL_FILE_LIMIT = 2000 * 1024 * 1024
GROUP_WINDOW_SECONDS = 60.0
# Update types a bot gets when allowed_updates is empty or was never set.
DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
ADMIN_RIGHTS = {
    "can_be_edited": False,
    "is_anonymous": False,
    "can_manage_chat": True,
    "can_delete_messages": True,
    "can_manage_video_chats": True,
    "can_restrict_members": True,
    "can_promote_members": False,
    "can_change_info": True,
    "can_invite_users": True,
    "can_post_stories": True,
    "can_edit_stories": True,
    "can_delete_stories": True,
    "can_pin_messages": True,
    "can_manage_topics": True,
}


def _load_spec() -> dict[str, dict[str, Any]]:
    methods: dict[str, dict[str, Any]] = json.loads(SPEC_PATH.read_text())["methods"]
    return {name.lower(): spec for name, spec in methods.items()}


_SPEC = _load_spec()
_TYPES: dict[str, dict[str, Any]] = json.loads(SPEC_PATH.read_text())["types"]


def _inaccessible(message: dict[str, Any]) -> dict[str, Any]:
    """``message`` as an InaccessibleMessage: only the fields the spec gives that type, and a
    date of 0, which is how the Bot API tells it from a Message."""
    shown = {f["name"]: message[f["name"]] for f in _TYPES["InaccessibleMessage"]["fields"]}
    shown["date"] = 0
    return shown


class ApiError(Exception):
    """An error answer of the Bot API: ``{"ok": false, "error_code": status, ...}``."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


@dataclass
class RecordedRequest:
    """One request the bot made: method as named in the spec, decoded params, uploaded files."""

    method: str
    params: dict[str, Any]
    files: dict[str, tuple[str, bytes]]  # form field -> (filename, bytes)
    at: float = field(default_factory=time.monotonic)  # when its body had arrived (benchmark)


@dataclass
class BotMessage:
    """A message the bot sent, as the user sees it now."""

    chat_id: int
    message_id: int
    text: str | None  # visible text (or caption) after entity parsing, current after edits
    html: str | None  # raw text (or caption) as sent
    reply_to_message_id: int | None
    message_thread_id: int | None
    document: tuple[str, bytes] | None  # (file_name, content)
    reply_markup: dict[str, Any] | None
    edits: int = 0
    deleted: bool = False


@dataclass
class Draft:
    """A message draft the bot streamed (sendMessageDraft), as the user saw it then."""

    chat_id: int
    draft_id: int
    text: str  # visible text after entity parsing; "" is the "Thinking..." placeholder
    html: str  # raw text as sent
    message_thread_id: int | None
    at: float = field(default_factory=time.monotonic)


@dataclass
class InlineMessage:
    """A message the bot sent in answer to a guest query, as the chat sees it now."""

    inline_message_id: str
    guest_query_id: str
    text: str  # visible text after entity parsing, current after edits
    html: str  # raw text as sent
    reply_markup: dict[str, Any] | None
    entities: list[dict[str, Any]]
    edits: int = 0
    history: list[str] = field(default_factory=list)  # every text it showed, in order


# answerGuestQuery's error for an id it does not know or has answered (as answerInlineQuery's).
QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"


@dataclass
class _Stored:
    message: dict[str, Any]
    from_bot: bool
    bot: BotMessage | None = None
    deleted: bool = False


@dataclass
class _Chat:
    data: dict[str, Any]
    messages: dict[int, _Stored] = field(default_factory=dict)
    next_message_id: int = 1
    admins: set[int] = field(default_factory=set)
    sends: collections.deque[float] = field(default_factory=collections.deque)
    last_message: float | None = None  # when the bot last sent or edited here (private pacing)


@dataclass
class _File:
    file_id: str
    file_unique_id: str
    file_size: int  # declared size, may exceed what is stored on disk
    disk_path: Path
    file_path: str  # relative path the cloud server hands out
    issued: bool = False  # file_path handed out by getFile


@dataclass
class _Fault:
    status: int
    description: str
    retry_after: int | None
    times: int
    chat_id: int | None = None  # None: any call of the method


class FakeTelegram:
    """Fake Bot API server; see the module docstring. Use ``async with FakeTelegram() as tg``."""

    def __init__(
        self,
        token: str = TOKEN,
        *,
        local_mode: bool = False,
        group_limit_per_minute: int | None = None,
        group_window_seconds: float = GROUP_WINDOW_SECONDS,
        private_pacing: float | None = None,
    ) -> None:
        self.token = token
        self.local_mode = local_mode
        self.group_limit_per_minute = group_limit_per_minute
        # Telegram's flood control in a private chat: about one message a second. Off unless
        # asked for, so that tests which do not exercise it keep their speed.
        self.private_pacing = private_pacing
        # Tests shrink the minute so that a burst test takes seconds, not minutes.
        self.group_window_seconds = group_window_seconds
        bot_id = int(token.split(":", 1)[0])
        self.bot_user: dict[str, Any] = {
            "id": bot_id,
            "is_bot": True,
            "first_name": "Voxgram",
            "username": "voxgram_test_bot",
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "supports_guest_queries": True,
        }
        self.api_url = ""
        self.requests: list[RecordedRequest] = []
        self.drafts: list[Draft] = []
        self._pushed_at: dict[tuple[int, int], float] = {}
        self.downloads: list[str] = []
        self.count_429 = 0
        self.webhook: dict[str, Any] = {"url": "", "secret_token": None}
        self.commands: dict[str, list[dict[str, Any]]] = {}
        self._users: dict[int, dict[str, Any]] = {}
        self._chats: dict[int, _Chat] = {}
        self._files: dict[str, _File] = {}
        self._files_by_path: dict[str, _File] = {}
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 1
        self._allowed_updates: list[str] = []
        self._callback_ids: set[str] = set()
        self.callback_answers: dict[str, dict[str, Any]] = {}  # query id -> answer params
        self._guest_queries: set[str] = set()  # pushed, not yet answered
        self.inline_messages: dict[str, InlineMessage] = {}
        self._faults: dict[str, list[_Fault]] = {}
        self._drops: dict[str, int] = {}
        self._hangs: dict[str, int] = {}
        self._download_faults: dict[str, list[int]] = {}
        self._ids = itertools.count(1)
        self._poll_generation = 0
        self._waiters: set[asyncio.Event] = set()
        self._closing = False
        self._silent = False
        self._held: set[str] = set()
        self._runner: web.AppRunner | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._handlers: dict[str, Callable[[dict[str, Any], dict[str, Any]], Awaitable[Any]]] = {
            "getme": self._get_me,
            "getupdates": self._get_updates,
            "deletewebhook": self._delete_webhook,
            "setwebhook": self._set_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "sendmessage": self._send_message,
            "sendmessagedraft": self._send_message_draft,
            "editmessagetext": self._edit_message_text,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "deletemessage": self._delete_message,
            "senddocument": self._send_document,
            "getfile": self._get_file,
            "setmycommands": self._set_my_commands,
            "deletemycommands": self._delete_my_commands,
            "getmycommands": self._get_my_commands,
            "getchatmember": self._get_chat_member,
            "getchatadministrators": self._get_chat_administrators,
            "answercallbackquery": self._answer_callback_query,
            "answerguestquery": self._answer_guest_query,
            "sendchataction": self._send_chat_action,
            "close": self._true,
            "logout": self._true,
        }

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Starts serving on a random free port of 127.0.0.1 and sets ``api_url``."""
        self._tmp = tempfile.TemporaryDirectory(prefix="fake-telegram-")
        app = web.Application(client_max_size=LOCAL_FILE_LIMIT)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_route("GET", "/file/bot{token}/{path:.+}", self._handle_download)
        app.router.add_route("*", "/{tail:.*}", self._handle_unknown)
        # Cancel a handler when its client goes away: a stopped bot's long poll ends with it.
        self._runner = web.AppRunner(
            app, access_log=None, shutdown_timeout=1.0, handler_cancellation=True
        )
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        site = web.SockSite(self._runner, sock)
        await site.start()
        self.api_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self._closing = False

    async def stop(self) -> None:
        """Ends pending long polls, stops the server and removes the stored files."""
        self._closing = True
        self._notify()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # ------------------------------------------------------------------ what users do

    def user(
        self,
        user_id: int,
        first_name: str = "User",
        *,
        language_code: str | None = "en",
        username: str | None = None,
        last_name: str | None = None,
    ) -> dict[str, Any]:
        """A User dict (also remembered for getChatMember)."""
        data: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if last_name is not None:
            data["last_name"] = last_name
        if username is not None:
            data["username"] = username
        if language_code is not None:
            data["language_code"] = language_code
        self._users[user_id] = data
        return data

    def private_chat(self, user: dict[str, Any]) -> dict[str, Any]:
        """Registers and returns the private chat of ``user`` with the bot."""
        data: dict[str, Any] = {
            "id": user["id"],
            "type": "private",
            "first_name": user["first_name"],
        }
        for key in ("last_name", "username"):
            if key in user:
                data[key] = user[key]
        self._users.setdefault(user["id"], user)
        self._register_chat(data)
        return data

    def group_chat(
        self, chat_id: int, title: str = "Group", *, supergroup: bool = True, is_forum: bool = False
    ) -> dict[str, Any]:
        """Registers and returns a group (``chat_id`` negative, e.g. -1001234567890)."""
        if chat_id >= 0:
            raise ValueError("group chat ids are negative")
        data: dict[str, Any] = {
            "id": chat_id,
            "type": "supergroup" if supergroup else "group",
            "title": title,
        }
        if is_forum:
            data["is_forum"] = True
        self._register_chat(data)
        return data

    def set_admins(self, chat_id: int, user_ids: list[int]) -> None:
        """Makes these users (the bot too, if listed) the chat's administrators."""
        self._chat_or_raise(chat_id).admins = set(user_ids)

    def add_file(self, data: bytes, *, file_size: int | None = None) -> dict[str, Any]:
        """Stores a file; ``file_size`` declares a size other than ``len(data)``."""
        stored = self._store_file(data, file_size=file_size, folder="documents", suffix="")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.file_size,
        }

    def new_message(
        self, chat: dict[str, Any], sender: dict[str, Any] | None, **fields: Any
    ) -> dict[str, Any]:
        """Stores a user's message in ``chat`` (next message_id of that chat) and returns it."""
        stored_chat = self._register_chat(chat)
        message: dict[str, Any] = {
            "message_id": self._allocate_id(stored_chat),
            "date": int(time.time()),
            "chat": stored_chat.data,
        }
        if sender is not None:
            message["from"] = sender
        message.update(fields)
        if isinstance(message.get("reply_to_message"), dict):
            message["reply_to_message"] = _shallow(message["reply_to_message"])
        if stored_chat.data.get("is_forum") and message.get("message_thread_id"):
            message.setdefault("is_topic_message", True)
        stored_chat.messages[message["message_id"]] = _Stored(message, from_bot=False)
        return message

    @property
    def last_update_id(self) -> int:
        """The id of the update pushed last (0: none yet)."""
        return self._next_update_id - 1

    def push_update(self, **fields: Any) -> dict[str, Any]:
        """Queues an update (e.g. ``message=msg``) for getUpdates and returns it."""
        update: dict[str, Any] = {"update_id": self._next_update_id, **fields}
        self._next_update_id += 1
        callback = fields.get("callback_query")
        if isinstance(callback, dict) and "id" in callback:
            self._callback_ids.add(str(callback["id"]))
        message = fields.get("message")
        if isinstance(message, dict):
            self._pushed_at[(message["chat"]["id"], message["message_id"])] = time.monotonic()
        self._updates.append(update)
        self._notify()
        return update

    def send_text(
        self, chat: dict[str, Any], sender: dict[str, Any], text: str, **fields: Any
    ) -> dict[str, Any]:
        """A user sends ``text`` (a command gets its bot_command entity); pushes the update."""
        if text.startswith("/") and "entities" not in fields:
            command = text.split(maxsplit=1)[0]
            fields["entities"] = [
                {"type": "bot_command", "offset": 0, "length": utf16_len(command)}
            ]
        message = self.new_message(chat, sender, text=text, **fields)
        self.push_update(message=message)
        return message

    def send_guest_message(
        self,
        chat: dict[str, Any],
        caller: dict[str, Any],
        *,
        reply_to: dict[str, Any] | None = None,
        text: str | None = None,
    ) -> dict[str, Any]:
        """`caller` mentions the bot in `chat`, a chat the bot is not in, in reply to `reply_to`
        (a message of that chat, or None); pushes the guest_message update and returns it."""
        mention = f"@{self.bot_user['username']}"
        text = mention if text is None else text
        query_id = f"guest-{next(self._ids) * 7927}"
        message: dict[str, Any] = {
            "message_id": 10_000 + next(self._ids),
            "date": int(time.time()),
            "chat": chat,
            "from": caller,
            "text": text,
            "guest_query_id": query_id,
        }
        at = text.find(mention)
        if at >= 0:
            message["entities"] = [
                {"type": "mention", "offset": utf16_len(text[:at]), "length": utf16_len(mention)}
            ]
        if reply_to is not None:
            message["reply_to_message"] = _shallow(reply_to)
        self._guest_queries.add(query_id)
        self.push_update(guest_message=message)
        return message

    def guest_answer(self, message: dict[str, Any]) -> InlineMessage | None:
        """The inline message that answered a guest message, if it was answered."""
        query_id = message["guest_query_id"]
        found = [m for m in self.inline_messages.values() if m.guest_query_id == query_id]
        return found[0] if found else None

    def send_voice(
        self,
        chat: dict[str, Any],
        sender: dict[str, Any],
        data: bytes,
        *,
        duration: int,
        file_size: int | None = None,
        mime_type: str = "audio/ogg",
        **fields: Any,
    ) -> dict[str, Any]:
        """A user sends a voice note; pushes the update and returns the message."""
        stored = self._store_file(data, file_size=file_size, folder="voice", suffix=".oga")
        voice = {
            **self._file_fields(stored),
            "duration": duration,
            "mime_type": mime_type,
        }
        return self._push_message(chat, sender, voice=voice, **fields)

    def send_audio(
        self,
        chat: dict[str, Any],
        sender: dict[str, Any],
        data: bytes,
        *,
        duration: int,
        file_name: str = "audio.mp3",
        mime_type: str = "audio/mpeg",
        file_size: int | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """A user sends an audio file; pushes the update and returns the message."""
        stored = self._store_file(
            data, file_size=file_size, folder="music", suffix=Path(file_name).suffix
        )
        audio = {
            **self._file_fields(stored),
            "duration": duration,
            "file_name": file_name,
            "mime_type": mime_type,
        }
        return self._push_message(chat, sender, audio=audio, **fields)

    def send_document(
        self,
        chat: dict[str, Any],
        sender: dict[str, Any],
        data: bytes,
        *,
        file_name: str,
        mime_type: str | None,
        file_size: int | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """A user sends a document; pushes the update and returns the message."""
        stored = self._store_file(
            data, file_size=file_size, folder="documents", suffix=Path(file_name).suffix
        )
        document = {**self._file_fields(stored), "file_name": file_name}
        if mime_type is not None:
            document["mime_type"] = mime_type
        return self._push_message(chat, sender, document=document, **fields)

    def send_video_note(
        self,
        chat: dict[str, Any],
        sender: dict[str, Any],
        data: bytes,
        *,
        duration: int,
        length: int = 240,
        file_size: int | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """A user sends a round video note; pushes the update and returns the message."""
        stored = self._store_file(data, file_size=file_size, folder="video_notes", suffix=".mp4")
        video_note = {**self._file_fields(stored), "length": length, "duration": duration}
        return self._push_message(chat, sender, video_note=video_note, **fields)

    def send_video(
        self,
        chat: dict[str, Any],
        sender: dict[str, Any],
        data: bytes,
        *,
        duration: int,
        width: int = 320,
        height: int = 240,
        file_size: int | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """A user sends a video; pushes the update and returns the message."""
        stored = self._store_file(data, file_size=file_size, folder="videos", suffix=".mp4")
        video = {
            **self._file_fields(stored),
            "width": width,
            "height": height,
            "duration": duration,
            "mime_type": "video/mp4",
        }
        return self._push_message(chat, sender, video=video, **fields)

    def press(
        self,
        chat_id: int,
        message_id: int,
        user: dict[str, Any],
        callback_data: str,
        *,
        inaccessible: bool = False,
        forged: bool = False,
    ) -> str:
        """A user taps an inline button of a bot message; pushes the callback_query update and
        returns its id. Official apps send the data of a button the message really has;
        `forged`: any data, as Telegram accepts from a modified client.
        `inaccessible`: the update carries the message as an InaccessibleMessage, as Telegram
        does for a message the bot can no longer access (an old one, say)."""
        stored = self._chat_or_raise(chat_id).messages.get(message_id)
        if stored is None or stored.deleted or not stored.from_bot:
            raise KeyError(f"no bot message {message_id} in chat {chat_id}")
        markup = stored.message.get("reply_markup") or {}
        buttons = [b for row in markup.get("inline_keyboard", []) for b in row]
        if not forged and not any(b.get("callback_data") == callback_data for b in buttons):
            raise ValueError(f"message {message_id} has no button with data {callback_data!r}")
        query_id = str(next(self._ids) * 7919)
        self.push_update(
            callback_query={
                "id": query_id,
                "from": user,
                "message": _inaccessible(stored.message) if inaccessible else stored.message,
                "chat_instance": str(abs(chat_id) * 31 + 7),
                "data": callback_data,
            }
        )
        return query_id

    def delete_message(self, chat_id: int, message_id: int) -> None:
        """A user deletes a message (theirs or, in private, the bot's)."""
        stored = self._chat_or_raise(chat_id).messages.get(message_id)
        if stored is None:
            raise KeyError(f"no message {message_id} in chat {chat_id}")
        self._mark_deleted(stored)
        self._notify()

    # ------------------------------------------------------------------ what happened

    def calls(self, method: str) -> list[RecordedRequest]:
        """Requests of ``method`` (case-insensitive), in order."""
        return [r for r in self.requests if r.method.lower() == method.lower()]

    def bot_messages(self, chat_id: int) -> list[BotMessage]:
        """The bot's messages in that chat, in send order, deleted ones excluded."""
        chat = self._chats.get(chat_id)
        if chat is None:
            return []
        return [
            s.bot
            for s in sorted(chat.messages.values(), key=lambda s: s.message["message_id"])
            if s.bot is not None and not s.deleted
        ]

    def pushed_at(self, chat_id: int, message_id: int) -> float:
        """When (time.monotonic()) the update bringing that user's message was pushed."""
        return self._pushed_at[(chat_id, message_id)]

    def drafts_in(self, chat_id: int) -> list[Draft]:
        """The drafts the bot showed in that chat, in order."""
        return [d for d in self.drafts if d.chat_id == chat_id]

    def replies_to(self, chat_id: int, message_id: int) -> list[BotMessage]:
        """The bot's (not deleted) messages replying to that message."""
        return [m for m in self.bot_messages(chat_id) if m.reply_to_message_id == message_id]

    # The test-facing API is wait_for(predicate, timeout=...), like asyncio.wait_for.
    async def wait_for(self, predicate: Callable[[], T], timeout: float = 30.0) -> T:  # noqa: ASYNC109
        """Returns ``predicate()`` once truthy, re-checked after every request and push."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(
                    f"condition not met within {timeout}s; last requests:\n{self.describe()}"
                )
            event = asyncio.Event()
            self._waiters.add(event)
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), remaining)
            finally:
                self._waiters.discard(event)

    def describe(self, last: int = 20) -> str:
        """The last requests but getUpdates polls, one a line, file contents elided."""
        polls = len(self.calls("getUpdates"))
        lines = [f"  ({polls} getUpdates polls not listed)"] if polls else []
        for request in [r for r in self.requests if r.method != "getUpdates"][-last:]:
            files = {k: f"<{name}: {len(data)} bytes>" for k, (name, data) in request.files.items()}
            lines.append(f"  {request.method} {json.dumps(request.params, default=str)} {files}")
        return "\n".join(lines) or "  (none)"

    # ------------------------------------------------------------------ faults

    def fail_next(
        self,
        method: str,
        *,
        status: int,
        description: str,
        retry_after: int | None = None,
        times: int = 1,
        chat_id: int | None = None,
    ) -> None:
        """The next ``times`` calls of ``method`` (to ``chat_id`` only, if given) answer this
        error."""
        self._faults.setdefault(method.lower(), []).append(
            _Fault(status, description, retry_after, times, chat_id)
        )

    def drop_next(self, method: str, *, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` are recorded, not carried out, and their
        connection is closed without an answer, as when a proxy or the network drops it."""
        self._drops[method.lower()] = self._drops.get(method.lower(), 0) + times

    def hang_next(self, method: str, *, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` are recorded and never answered: the bot's
        own timeout has to end them (or the fake's stop)."""
        self._hangs[method.lower()] = self._hangs.get(method.lower(), 0) + times

    def stop_answering(self) -> None:
        """Bot API requests are recorded but hang from now on, as when Telegram is unreachable,
        until answer_again() (requests already being answered are not affected)."""
        self._silent = True

    def answer_again(self) -> None:
        """Requests held by stop_answering() are answered, and new ones as usual."""
        self._silent = False
        self._notify()

    def hold(self, method: str) -> None:
        """Calls of ``method`` are recorded but not answered until release(method)."""
        self._held.add(method.lower())

    def release(self, method: str) -> None:
        self._held.discard(method.lower())
        self._notify()

    def disk_path(self, file_id: str) -> Path:
        """Where the server keeps a file on its disk (what local mode hands out)."""
        return self._files[file_id].disk_path

    def fail_download(self, file_id_or_path: str, *, status: int = 404, times: int = 1) -> None:
        """The next ``times`` downloads of that file answer ``status``."""
        self._download_faults.setdefault(file_id_or_path, []).extend([status] * times)

    # ------------------------------------------------------------------ HTTP

    async def _handle_unknown(self, request: web.Request) -> web.Response:
        return _error_response(ApiError(404, "Not Found"))

    async def _handle_api(self, request: web.Request) -> web.Response:
        method_name = request.match_info["method"]
        spec = _SPEC.get(method_name.lower())
        canonical = spec["name"] if spec else method_name
        try:
            params, files = await _read_params(request, spec)
        except ValueError as exc:
            params, files = {}, {}
            parse_error: ApiError | None = _bad(str(exc))
        else:
            parse_error = None
        self.requests.append(RecordedRequest(canonical, params, files))
        self._notify()  # a test may wait for a request that is still being answered (long poll)
        if self._take(self._drops, canonical):
            assert request.transport is not None
            request.transport.abort()
            raise asyncio.CancelledError
        if self._take(self._hangs, canonical):
            await self._hang()
        while (self._silent or canonical.lower() in self._held) and not self._closing:
            event = asyncio.Event()
            self._waiters.add(event)
            try:
                await event.wait()
            finally:
                self._waiters.discard(event)
        try:
            if request.match_info["token"] != self.token:
                raise ApiError(401, "Unauthorized")
            if spec is None:
                raise ApiError(404, "Not Found")
            if parse_error is not None:
                raise parse_error
            self._take_fault(canonical, params)
            handler = self._handlers.get(canonical.lower())
            if handler is None:
                raise ApiError(500, f"Internal Server Error: the fake Bot API lacks {canonical}")
            _check_required(spec, params, files)
            result = await handler(params, files)
        except ApiError as exc:
            if exc.status == 429:
                self.count_429 += 1
            return _error_response(exc)
        except Exception as exc:
            return _error_response(ApiError(500, f"Internal Server Error: fake crashed: {exc!r}"))
        finally:
            self._notify()
        return web.json_response({"ok": True, "result": result})

    async def _handle_download(self, request: web.Request) -> web.StreamResponse:
        path = request.match_info["path"]
        self.downloads.append(path)
        self._notify()
        if request.match_info["token"] != self.token:
            return _error_response(ApiError(401, "Unauthorized"))
        stored = self._files_by_path.get(path) or self._files_by_path.get("/" + path)
        if stored is None or not (stored.issued or self.local_mode):
            return _error_response(ApiError(404, "Not Found"))
        for key in (stored.file_id, stored.file_path, str(stored.disk_path), path):
            faults = self._download_faults.get(key)
            if faults:
                status = faults.pop(0)
                return _error_response(ApiError(status, _reason(status)))
        return web.FileResponse(stored.disk_path)

    def _take_fault(self, method: str, params: dict[str, Any]) -> None:
        faults = self._faults.get(method.lower(), [])
        fault = next(
            (
                f
                for f in faults
                if f.chat_id is None or str(f.chat_id) == str(params.get("chat_id"))
            ),
            None,
        )
        if fault is None:
            return
        fault.times -= 1
        if fault.times <= 0:
            faults.remove(fault)
        raise ApiError(fault.status, fault.description, fault.retry_after)

    @staticmethod
    def _take(counts: dict[str, int], method: str) -> bool:
        """Spend one of the calls counted for ``method``; False when none is left."""
        left = counts.get(method.lower(), 0)
        if left <= 0:
            return False
        counts[method.lower()] = left - 1
        return True

    async def _hang(self) -> None:
        """Wait until the fake stops; the client giving up cancels this handler."""
        while not self._closing:
            event = asyncio.Event()
            self._waiters.add(event)
            try:
                await event.wait()
            finally:
                self._waiters.discard(event)

    # ------------------------------------------------------------------ methods

    async def _true(self, params: dict[str, Any], files: dict[str, Any]) -> bool:
        return True

    async def _get_me(self, params: dict[str, Any], files: dict[str, Any]) -> dict[str, Any]:
        return self.bot_user

    async def _get_updates(
        self, params: dict[str, Any], files: dict[str, Any]
    ) -> list[dict[str, Any]]:
        if self.webhook["url"]:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use "
                "deleteWebhook to delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = max(float(params.get("timeout") or 0), 0.0)
        if "allowed_updates" in params and params["allowed_updates"] is not None:
            self._allowed_updates = list(params["allowed_updates"])
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        self._poll_generation += 1
        generation = self._poll_generation
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only one "
                    "bot instance is running",
                )
            ready = [u for u in self._updates if self._is_allowed(u)][:limit]
            remaining = deadline - loop.time()
            if ready or remaining <= 0 or self._closing:
                return ready
            event = asyncio.Event()
            self._waiters.add(event)
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), remaining)
            finally:
                self._waiters.discard(event)

    def _is_allowed(self, update: dict[str, Any]) -> bool:
        kinds = [k for k in update if k != "update_id"]
        if not self._allowed_updates:
            return not any(k in DEFAULT_EXCLUDED_UPDATES for k in kinds)
        return any(k in self._allowed_updates for k in kinds)

    async def _delete_webhook(self, params: dict[str, Any], files: dict[str, Any]) -> bool:
        self.webhook = {"url": "", "secret_token": None}
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _set_webhook(self, params: dict[str, Any], files: dict[str, Any]) -> bool:
        url = str(params["url"])
        if url and not url.startswith("https://"):
            raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
        self.webhook = {
            "url": url,
            "secret_token": params.get("secret_token"),
            "allowed_updates": params.get("allowed_updates"),
            "max_connections": params.get("max_connections"),
        }
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _get_webhook_info(
        self, params: dict[str, Any], files: dict[str, Any]
    ) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self.webhook["url"],
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self.webhook["url"]:
            info["max_connections"] = self.webhook.get("max_connections") or 40
            if self.webhook.get("allowed_updates"):
                info["allowed_updates"] = self.webhook["allowed_updates"]
        return info

    async def _send_message(self, params: dict[str, Any], files: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat_for(params)
        raw = str(params.get("text") or "")
        text, entities = _format(raw, params, MAX_TEXT_LENGTH, "message is too long")
        if not text:
            raise _bad("message text is empty")
        content: dict[str, Any] = {"text": text}
        if entities:
            content["entities"] = entities
        return self._bot_send(chat, params, content, html=raw, document=None)

    async def _send_message_draft(self, params: dict[str, Any], files: dict[str, Any]) -> bool:
        """Drafts go to private chats only, with a non-zero draft_id; an empty text is the
        "Thinking..." placeholder. The spec's wording; the error texts are the fake's own."""
        chat = self._chat_for(params)
        if chat.data["type"] != "private":
            raise _bad("message drafts can be sent to private chats only")
        try:
            draft_id = int(params["draft_id"])
        except (TypeError, ValueError) as exc:
            raise _bad("invalid draft_id") from exc
        if draft_id == 0:
            raise _bad("draft_id must be non-zero")
        raw = str(params.get("text") or "")
        text, _ = _format(raw, params, MAX_TEXT_LENGTH, "message is too long")
        thread_id = params.get("message_thread_id")
        self.drafts.append(
            Draft(
                chat_id=chat.data["id"],
                draft_id=draft_id,
                text=text,
                html=raw,
                message_thread_id=None if thread_id is None else int(thread_id),
            )
        )
        return True

    async def _send_document(self, params: dict[str, Any], files: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat_for(params)
        raw_caption = params.get("caption")
        content: dict[str, Any] = {}
        caption: str | None = None
        if raw_caption:
            caption, entities = _format(
                str(raw_caption),
                {
                    "parse_mode": params.get("parse_mode"),
                    "entities": params.get("caption_entities"),
                },
                MAX_CAPTION_LENGTH,
                "message caption is too long",
            )
            if caption:
                content["caption"] = caption
            if entities:
                content["caption_entities"] = entities
        document, payload = self._document_from(params, files)
        content["document"] = document
        return self._bot_send(
            chat,
            params,
            content,
            html=None if raw_caption is None else str(raw_caption),
            text=caption,
            document=(document.get("file_name", ""), payload),
        )

    def _document_from(
        self, params: dict[str, Any], files: dict[str, tuple[str, bytes]]
    ) -> tuple[dict[str, Any], bytes]:
        value = params.get("document")
        upload: tuple[str, bytes] | None = files.get("document")
        if isinstance(value, str) and value.startswith("attach://"):
            upload = files.get(value.removeprefix("attach://"))
            if upload is None:
                raise _bad("wrong file identifier/HTTP URL specified")
        if upload is not None:
            file_name, data = upload
            if not data:
                raise _bad("file must be non-empty")
            limit = LOCAL_FILE_LIMIT if self.local_mode else CLOUD_UPLOAD_LIMIT
            if len(data) > limit:
                raise ApiError(413, "Request Entity Too Large")
            stored = self._store_file(
                data, file_size=None, folder="documents", suffix=Path(file_name).suffix
            )
            mime_type = mimetypes.guess_type(file_name)[0] or "application/octet-stream"
            document = {
                **self._file_fields(stored),
                "file_name": file_name,
                "mime_type": mime_type,
            }
            return document, data
        if isinstance(value, str) and value.startswith("file://") and self.local_mode:
            local = Path(value.removeprefix("file://"))
            if not local.is_file():
                raise _bad("wrong file identifier/HTTP URL specified")
            return self._document_from(params, {"document": (local.name, local.read_bytes())})
        if isinstance(value, str) and value in self._files:
            stored = self._files[value]
            return self._file_fields(stored), stored.disk_path.read_bytes()
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            raise _bad("failed to get HTTP URL content")
        raise _bad("wrong file identifier/HTTP URL specified")

    def _bot_send(
        self,
        chat: _Chat,
        params: dict[str, Any],
        content: dict[str, Any],
        *,
        html: str | None,
        document: tuple[str, bytes] | None,
        text: str | None = None,
    ) -> dict[str, Any]:
        chat_id = chat.data["id"]
        reply_to = self._reply_target(chat, params)
        thread_id = params.get("message_thread_id")
        if thread_id is None and reply_to is not None and reply_to.get("is_topic_message"):
            thread_id = reply_to.get("message_thread_id")
        self._check_group_limit(chat)
        self._check_private_pacing(chat)
        message: dict[str, Any] = {
            "message_id": self._allocate_id(chat),
            "from": self.bot_user,
            "date": int(time.time()),
            "chat": chat.data,
        }
        if thread_id is not None:
            message["message_thread_id"] = int(thread_id)
            if chat.data.get("is_forum"):
                message["is_topic_message"] = True
        if reply_to is not None:
            message["reply_to_message"] = _shallow(reply_to)
        message.update(content)
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup  # a Message carries inline keyboards only
        bot_message = BotMessage(
            chat_id=chat_id,
            message_id=message["message_id"],
            text=content.get("text", text),
            html=html,
            reply_to_message_id=None if reply_to is None else reply_to["message_id"],
            message_thread_id=message.get("message_thread_id"),
            document=document,
            reply_markup=params.get("reply_markup") or None,
        )
        chat.messages[message["message_id"]] = _Stored(message, from_bot=True, bot=bot_message)
        return message

    def _reply_target(self, chat: _Chat, params: dict[str, Any]) -> dict[str, Any] | None:
        reply = params.get("reply_parameters")
        if isinstance(reply, dict):
            message_id = reply.get("message_id")
            allow = bool(reply.get("allow_sending_without_reply"))
            reply_chat = chat
            if reply.get("chat_id") is not None:
                reply_chat = self._resolve_chat(reply["chat_id"])
        elif params.get("reply_to_message_id") is not None:
            message_id = params["reply_to_message_id"]
            allow = bool(params.get("allow_sending_without_reply"))
            reply_chat = chat
        else:
            return None
        stored = reply_chat.messages.get(int(message_id)) if message_id is not None else None
        if stored is None or stored.deleted:
            if allow:
                return None
            raise _bad("message to be replied not found")
        if reply_chat is not chat:
            return None  # Telegram shows this as external_reply; the fake does not model it.
        return stored.message

    def _check_private_pacing(self, chat: _Chat) -> None:
        """Sends and edits in one private chat closer than ``private_pacing`` seconds answer
        429 with the whole seconds to wait, as Telegram's flood control does."""
        if self.private_pacing is None or chat.data["type"] != "private":
            return
        now = time.monotonic()
        if chat.last_message is not None and now - chat.last_message < self.private_pacing:
            retry_after = max(1, math.ceil(chat.last_message + self.private_pacing - now))
            raise ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after)
        chat.last_message = now

    def _check_group_limit(self, chat: _Chat) -> None:
        if self.group_limit_per_minute is None or chat.data["id"] >= 0:
            return
        now = time.monotonic()
        while chat.sends and chat.sends[0] <= now - self.group_window_seconds:
            chat.sends.popleft()
        if len(chat.sends) >= self.group_limit_per_minute:
            retry_after = max(1, math.ceil(chat.sends[0] + self.group_window_seconds - now))
            raise ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after)
        chat.sends.append(now)

    async def _answer_guest_query(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        query_id = str(params["guest_query_id"])
        if query_id not in self._guest_queries:
            raise ApiError(400, QUERY_INVALID)
        result = params["result"]
        if not isinstance(result, dict) or result.get("type") != "article":
            raise ApiError(500, "Internal Server Error: the fake answers article results only")
        result_id = str(result.get("id") or "")
        if not 1 <= len(result_id.encode()) <= 64:
            raise _bad("RESULT_ID_INVALID")
        if not result.get("title"):
            raise _bad("RESULT_TITLE_EMPTY")
        content = result.get("input_message_content")
        if not isinstance(content, dict) or "message_text" not in content:
            raise _bad("input_message_content is required")
        raw = str(content["message_text"])
        text, entities = _format(raw, content, MAX_TEXT_LENGTH, "MESSAGE_TOO_LONG")
        if not text:
            raise _bad("MESSAGE_EMPTY")
        self._guest_queries.discard(query_id)
        inline_id = f"AgAAA{next(self._ids):08d}guest"
        self.inline_messages[inline_id] = InlineMessage(
            inline_id, query_id, text, raw, result.get("reply_markup") or None, entities, 0, [text]
        )
        return {"inline_message_id": inline_id}

    def _edit_inline(self, params: dict[str, Any], *, text: bool) -> bool:
        """editMessageText / editMessageReplyMarkup of an inline message: True, as the Bot API
        answers for inline messages."""
        inline = self.inline_messages.get(str(params["inline_message_id"]))
        if inline is None:
            raise _bad("MESSAGE_ID_INVALID")
        markup = params.get("reply_markup") or None
        raw, shown, entities = inline.html, inline.text, inline.entities
        if text:
            raw = str(params.get("text") or "")
            shown, entities = _format(raw, params, MAX_TEXT_LENGTH, "message is too long")
            if not shown:
                raise _bad("message text is empty")
        if (shown, entities, markup) == (inline.text, inline.entities, inline.reply_markup):
            raise ApiError(400, NOT_MODIFIED)
        inline.text, inline.html, inline.entities, inline.reply_markup = (
            shown,
            raw,
            entities,
            markup,
        )
        inline.edits += 1
        inline.history.append(shown)
        return True

    async def _edit_message_text(self, params: dict[str, Any], files: dict[str, Any]) -> Any:
        if params.get("inline_message_id"):
            return self._edit_inline(params, text=True)
        stored = self._message_to_edit(params)
        raw = str(params.get("text") or "")
        text, entities = _format(raw, params, MAX_TEXT_LENGTH, "message is too long")
        if not text:
            raise _bad("message text is empty")
        if "text" not in stored.message:
            raise _bad("there is no text in the message to edit")
        markup = params.get("reply_markup") or None
        if (
            stored.message["text"] == text
            and stored.message.get("entities", []) == entities
            and stored.message.get("reply_markup") == markup
        ):
            raise ApiError(400, NOT_MODIFIED)
        self._check_private_pacing(self._chat_for(params))
        stored.message["text"] = text
        _set_or_pop(stored.message, "entities", entities or None)
        _set_or_pop(stored.message, "reply_markup", markup)
        stored.message["edit_date"] = int(time.time())
        assert stored.bot is not None
        stored.bot.text = text
        stored.bot.html = raw
        stored.bot.reply_markup = markup
        stored.bot.edits += 1
        return stored.message

    async def _edit_message_reply_markup(
        self, params: dict[str, Any], files: dict[str, Any]
    ) -> Any:
        if params.get("inline_message_id"):
            return self._edit_inline(params, text=False)
        stored = self._message_to_edit(params)
        markup = params.get("reply_markup") or None
        if stored.message.get("reply_markup") == markup:
            raise ApiError(400, NOT_MODIFIED)
        _set_or_pop(stored.message, "reply_markup", markup)
        stored.message["edit_date"] = int(time.time())
        assert stored.bot is not None
        stored.bot.reply_markup = markup
        stored.bot.edits += 1
        return stored.message

    def _message_to_edit(self, params: dict[str, Any]) -> _Stored:
        if params.get("chat_id") in (None, ""):
            raise _bad("chat_id is empty")
        if params.get("message_id") in (None, ""):
            raise _bad("message identifier is not specified")
        chat = self._chat_for(params)
        stored = chat.messages.get(int(params["message_id"]))
        if stored is None or stored.deleted or not stored.from_bot:
            raise _bad("message to edit not found")
        return stored

    async def _delete_message(self, params: dict[str, Any], files: dict[str, Any]) -> bool:
        chat = self._chat_for(params)
        stored = chat.messages.get(int(params["message_id"]))
        if stored is None or stored.deleted:
            raise _bad("message to delete not found")
        is_private = chat.data["type"] == "private"
        if not stored.from_bot and not is_private and self.bot_user["id"] not in chat.admins:
            raise _bad("message can't be deleted")
        self._mark_deleted(stored)
        return True

    async def _get_file(self, params: dict[str, Any], files: dict[str, Any]) -> dict[str, Any]:
        stored = self._files.get(str(params["file_id"]))
        if stored is None:
            raise _bad("invalid file_id")
        limit = LOCAL_FILE_LIMIT if self.local_mode else CLOUD_DOWNLOAD_LIMIT
        if stored.file_size > limit:
            raise _bad("file is too big")
        stored.issued = True
        file_path = str(stored.disk_path) if self.local_mode else stored.file_path
        return {**self._file_fields(stored), "file_path": file_path}

    async def _set_my_commands(self, params: dict[str, Any], files: dict[str, Any]) -> bool:
        commands = params["commands"]
        if not isinstance(commands, list) or len(commands) > 100:
            raise _bad("commands must be an array of at most 100 BotCommand")
        for command in commands:
            name = str(command.get("command", ""))
            if not (1 <= len(name) <= 32) or not all(
                c.islower() or c.isdigit() or c == "_" for c in name
            ):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise _bad("command description must be non-empty")
        self.commands[_commands_key(params)] = commands
        return True

    async def _delete_my_commands(self, params: dict[str, Any], files: dict[str, Any]) -> bool:
        self.commands.pop(_commands_key(params), None)
        return True

    async def _get_my_commands(
        self, params: dict[str, Any], files: dict[str, Any]
    ) -> list[dict[str, Any]]:
        return self.commands.get(_commands_key(params), [])

    async def _get_chat_member(
        self, params: dict[str, Any], files: dict[str, Any]
    ) -> dict[str, Any]:
        chat = self._chat_for(params)
        return self._member(chat, int(params["user_id"]))

    async def _get_chat_administrators(
        self, params: dict[str, Any], files: dict[str, Any]
    ) -> list[dict[str, Any]]:
        chat = self._chat_for(params)
        if chat.data["type"] == "private":
            raise _bad("there are no administrators in the private chat")
        return [self._member(chat, user_id) for user_id in sorted(chat.admins)]

    def _member(self, chat: _Chat, user_id: int) -> dict[str, Any]:
        if user_id == self.bot_user["id"]:
            user = self.bot_user
        else:
            user = self._users.get(user_id, {"id": user_id, "is_bot": False, "first_name": "User"})
        if chat.data["type"] != "private" and user_id in chat.admins:
            return {"status": "administrator", "user": user, **ADMIN_RIGHTS}
        return {"status": "member", "user": user}

    async def _answer_callback_query(self, params: dict[str, Any], files: dict[str, Any]) -> bool:
        query_id = str(params["callback_query_id"])
        # A query is answered once; a second answer finds it gone, as on Telegram.
        if query_id not in self._callback_ids or query_id in self.callback_answers:
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        if len(str(params.get("text") or "")) > 200:
            raise _bad("MESSAGE_TOO_LONG")
        self.callback_answers[query_id] = params
        return True

    async def _send_chat_action(self, params: dict[str, Any], files: dict[str, Any]) -> bool:
        self._chat_for(params)
        if params["action"] not in CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        return True

    # ------------------------------------------------------------------ internals

    def _notify(self) -> None:
        for event in self._waiters:
            event.set()

    def _register_chat(self, data: dict[str, Any]) -> _Chat:
        chat = self._chats.get(data["id"])
        if chat is None:
            chat = self._chats[data["id"]] = _Chat(dict(data))
        return chat

    def _chat_or_raise(self, chat_id: int) -> _Chat:
        chat = self._chats.get(chat_id)
        if chat is None:
            raise KeyError(f"chat {chat_id} is not registered with the fake")
        return chat

    def _resolve_chat(self, chat_id: Any) -> _Chat:
        chat: _Chat | None = None
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            chat = next(
                (c for c in self._chats.values() if c.data.get("username") == chat_id[1:]), None
            )
        else:
            with contextlib.suppress(TypeError, ValueError):
                chat = self._chats.get(int(chat_id))
        if chat is None:
            raise _bad("chat not found")
        return chat

    def _chat_for(self, params: dict[str, Any]) -> _Chat:
        if params.get("chat_id") in (None, ""):
            raise _bad("chat_id is empty")
        return self._resolve_chat(params["chat_id"])

    def _allocate_id(self, chat: _Chat) -> int:
        message_id = chat.next_message_id
        chat.next_message_id += 1
        return message_id

    def _mark_deleted(self, stored: _Stored) -> None:
        stored.deleted = True
        if stored.bot is not None:
            stored.bot.deleted = True

    def _store_file(self, data: bytes, *, file_size: int | None, folder: str, suffix: str) -> _File:
        if self._tmp is None:
            raise RuntimeError("start the FakeTelegram before adding files")
        number = next(self._ids)
        relative = f"{folder}/file_{number}{suffix}"
        disk_path = Path(self._tmp.name) / relative
        disk_path.parent.mkdir(parents=True, exist_ok=True)
        disk_path.write_bytes(data)
        stored = _File(
            file_id=f"FAKE-{folder}-{number:06d}-AgADBAADFAKE",
            file_unique_id=f"AgAD{number:06d}",
            file_size=len(data) if file_size is None else file_size,
            disk_path=disk_path,
            file_path=relative,
        )
        self._files[stored.file_id] = stored
        self._files_by_path[relative] = stored
        self._files_by_path[str(disk_path)] = stored
        return stored

    def _file_fields(self, stored: _File) -> dict[str, Any]:
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": stored.file_size,
        }

    def _push_message(
        self, chat: dict[str, Any], sender: dict[str, Any], **fields: Any
    ) -> dict[str, Any]:
        message = self.new_message(chat, sender, **fields)
        self.push_update(message=message)
        return message


# ---------------------------------------------------------------------- helpers


def _format(
    raw: str, params: dict[str, Any], limit: int, too_long: str
) -> tuple[str, list[dict[str, Any]]]:
    """Parses text or caption per parse_mode and checks its length as Telegram counts it."""
    parse_mode = params.get("parse_mode")
    if parse_mode and str(parse_mode).lower() == "html":
        try:
            text, entities = parse_html(raw)
        except EntityParseError as exc:
            raise _bad(f"can't parse entities: {exc}") from exc
    elif parse_mode:
        raise ApiError(500, f"Internal Server Error: the fake lacks parse_mode {parse_mode}")
    else:
        given = params.get("entities")
        text, entities = trim(raw, list(given) if isinstance(given, list) else [])
    if utf16_len(text) > limit:
        raise _bad(too_long)
    return text, entities


def _shallow(message: dict[str, Any]) -> dict[str, Any]:
    """A message as embedded in another: Telegram nests reply_to_message one level only."""
    return {k: v for k, v in message.items() if k != "reply_to_message"}


def _set_or_pop(target: dict[str, Any], key: str, value: Any) -> None:
    if value is None:
        target.pop(key, None)
    else:
        target[key] = value


def _commands_key(params: dict[str, Any]) -> str:
    scope = params.get("scope") or {"type": "default"}
    return f"{json.dumps(scope, sort_keys=True)}|{params.get('language_code') or ''}"


def _check_required(
    spec: dict[str, Any], params: dict[str, Any], files: dict[str, tuple[str, bytes]]
) -> None:
    for spec_field in spec.get("fields", []):
        name = spec_field["name"]
        if not spec_field["required"] or name in files or params.get(name) not in (None, ""):
            continue
        if name == "chat_id":
            raise _bad("chat_id is empty")
        if name == "text" and spec["name"] in ("sendMessage", "editMessageText"):
            raise _bad("message text is empty")
        raise _bad(f'parameter "{name}" is required')


def _decode_value(value: str, types: list[str] | None) -> Any:
    """Form values arrive as strings; non-string ones are JSON-encoded (as PTB sends them)."""
    if types is not None and all(t == "String" or t == "InputFile" for t in types):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


async def _read_params(
    request: web.Request, spec: dict[str, Any] | None
) -> tuple[dict[str, Any], dict[str, tuple[str, bytes]]]:
    """Decodes query, urlencoded, multipart or JSON parameters into one dict plus files."""
    types = {f["name"]: f["types"] for f in spec.get("fields", [])} if spec else {}
    params: dict[str, Any] = {k: _decode_value(v, types.get(k)) for k, v in request.query.items()}
    files: dict[str, tuple[str, bytes]] = {}
    if request.method not in ("POST", "PUT") or not request.can_read_body:
        return params, files
    content_type = request.content_type
    if content_type == "application/json":
        try:
            body = await request.json()
        except ValueError as exc:
            raise ValueError("can't parse JSON object") from exc
        if not isinstance(body, dict):
            raise ValueError("JSON object expected")
        params.update(body)
    elif content_type == "multipart/form-data":
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader) or part.name is None:
                continue
            if part.filename is not None:
                files[part.name] = (part.filename, bytes(await part.read()))
            else:
                params[part.name] = _decode_value(await part.text(), types.get(part.name))
    else:
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                files[key] = (value.filename, value.file.read())
            elif isinstance(value, str):
                params[key] = _decode_value(value, types.get(key))
            else:
                params[key] = _decode_value(bytes(value).decode(), types.get(key))
    return params, files


def _error_response(error: ApiError) -> web.Response:
    body: dict[str, Any] = {
        "ok": False,
        "error_code": error.status,
        "description": error.description,
    }
    if error.retry_after is not None:
        body["parameters"] = {"retry_after": error.retry_after}
    return web.json_response(body, status=error.status)


def _reason(status: int) -> str:
    with contextlib.suppress(ValueError):
        return HTTPStatus(status).phrase
    return "Error"


__all__ = ["TOKEN", "BotMessage", "Draft", "FakeTelegram", "RecordedRequest"]
