"""The hall display: a full-screen page that shows and speaks each call (see its issue).

``init_app`` registers the ``/display`` page, ``/api/v1/announcements/<seq>`` and the voice
files, and sets up the :class:`display.voice.Announcer`, which hears committed call events and
synthesizes their phrases in the background (a worker of ``box.workers``).
"""
from __future__ import annotations


def init_app(app):
    from display.speaker import BoxSpeaker
    from display.views import display
    from display.voice import Announcer

    box = app.extensions["turnero"]
    voice = box.settings.voice
    app.register_blueprint(display)
    if box.devices is not None:
        # A web worker of `turnero run`: the device process synthesizes; this one serves the files.
        announcer = RemoteAnnouncer(Announcer(box.settings, box.data_dir, box.engine), box.devices.part("voice"))
        app.extensions["turnero.voice"] = announcer
        box.health["voice"] = announcer.health
        app.extensions.setdefault("turnero.device_tests", {})["voice"] = announcer.test_phrase
        return
    speaker = BoxSpeaker() if voice["play_on_box"] and voice["enabled"] else None
    announcer = Announcer(box.settings, box.data_dir, box.engine, speaker=speaker)
    app.extensions["turnero.voice"] = announcer
    box.parts["voice"] = announcer
    box.store.on_commit(announcer.on_commit)
    box.health["voice"] = announcer.health
    app.extensions.setdefault("turnero.device_tests", {})["voice"] = announcer.test_phrase
    if app.config["START_WORKERS"]:
        box.workers.append(announcer)
    else:
        # No worker thread: announcements are made on demand; the process must not linger.
        box.workers.append(_Closer(announcer))


class RemoteAnnouncer:
    """The announcer as a web worker sees it: the files and the chime are read here, the phrases
    are made (and asked for) in the device process."""

    def __init__(self, local, remote):
        self.local = local  # never started: it only knows the paths and reads events
        self.remote = remote
        self.cache_dir = local.cache_dir
        self.ensure_chime = local.ensure_chime
        self.call_event = local.call_event

    def announcement(self, event: dict, wait: float = 0.0) -> dict:
        return self.remote.announcement(event, wait, timeout=wait + 10)

    def kiosk_speech(self, candidates: list, wait: float = 0.0) -> dict:
        return self.remote.kiosk_speech(candidates, wait, timeout=wait + 10)

    def health(self) -> dict:
        return self.remote.health(timeout=5)

    def test_phrase(self) -> str:
        return self.remote.test_phrase(timeout=60)


class _Closer:
    """Stops the announcer's worker process with the box even when no thread was started."""

    def __init__(self, announcer):
        self.announcer = announcer

    def start(self):
        pass

    def stop(self):
        self.announcer.stop()
