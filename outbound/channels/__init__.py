"""Channel adapters behind one port (``base.ChannelPort``)."""
