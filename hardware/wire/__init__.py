"""Standard ROS messages straight to and from their serialized (CDR) bytes, without rosidl's objects (ROS-free).

rclpy publishes bytes as they are and hands a raw subscription the bytes it took. The policy node's fast head takes
touch, TCP pose and gripper state this way, and the planner thread publishes the monitor features this way: on the
2-core machine this project is measured on, code that has not run for a few milliseconds runs 10-30x slower, so
building or reading message objects is slow exactly when messages are rare, and whatever a thread of the policy node
does in Python holds the interpreter lock its fast head waits for.

CDR (plain, version 1): a 4-byte encapsulation header (byte 1: 0x01 little endian, 0x00 big endian), then the
fields in order, each aligned to its own size counted from the end of that header; a string is a uint32 length
(with the NUL), the bytes and the NUL; a sequence a uint32 count and its elements. The tests check every reader and
writer here against rclpy's own serialization.
"""
