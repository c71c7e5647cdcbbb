"""The sede admin pages (/admin): staff, devices and pairing, settings check, device tests, sync.

Server-rendered forms with CSRF; every change goes through the engine's account functions and
is recorded in the audit trail by the page guard.
"""
from admin import studio, voice_studio
from admin.views import admin


def init_app(app):
    app.register_blueprint(admin)
    studio.init_app(app)
    voice_studio.init_app(app)
