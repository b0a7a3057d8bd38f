"""Voice robot: flows, runner, TTS, ASR and SIP (pjsua2 only in sip.py)."""
