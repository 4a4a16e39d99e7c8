"""The `pipewarden` command: run the sandbox, enroll and unenroll repositories, show status."""
