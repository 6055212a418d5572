"""The advisors: they read a bot's context and propose; a human decides.

``advisor_run`` (in :mod:`approvals.advisor.services`) is the one way in.
"""
