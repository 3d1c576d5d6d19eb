"""People commands: users, explain, invite-url, accept-invite, invites send, keys rotate, csv template.

Stage: CLI.
"""

from __future__ import annotations
