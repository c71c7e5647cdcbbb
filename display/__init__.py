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
    speaker = BoxSpeaker() if voice["play_on_box"] and voice["enabled"] else None
    announcer = Announcer(box.settings, box.data_dir, box.engine, speaker=speaker)
    app.extensions["turnero.voice"] = announcer
    app.register_blueprint(display)
    box.store.on_commit(announcer.on_commit)
    box.health["voice"] = announcer.health
    app.extensions.setdefault("turnero.device_tests", {})["voice"] = announcer.test_phrase
    if app.config["START_WORKERS"]:
        box.workers.append(announcer)
    else:
        # No worker thread: announcements are made on demand; the process must not linger.
        box.workers.append(_Closer(announcer))


class _Closer:
    """Stops the announcer's worker process with the box even when no thread was started."""

    def __init__(self, announcer):
        self.announcer = announcer

    def start(self):
        pass

    def stop(self):
        self.announcer.stop()
