"""Policy networks (torch, for training and export) and the streaming action buffer (numpy).

`action_space` and `streaming` are numpy-only so the runtime can use them without torch.
"""
