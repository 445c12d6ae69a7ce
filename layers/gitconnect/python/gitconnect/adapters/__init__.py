"""The only I/O of the package: AWS, HTTP and Git. Built and cached by gitconnect.wiring."""
