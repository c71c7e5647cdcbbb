"""The HTTP and Socket.IO layer: the app factory, the JSON API, the shared page guards and login,
Socket.IO rooms and the event pump, and the Gunicorn server. It calls the engine in ``turnero``;
the engine never imports it."""
