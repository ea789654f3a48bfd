"""Several Engine.IO server processes behind nginx, with sticky sessions.

``app`` is one worker (an echo server that tells which worker it is),
``launch`` starts N workers and an nginx in front of them from
``nginx.conf.template``; README.md explains the deployment.
"""
