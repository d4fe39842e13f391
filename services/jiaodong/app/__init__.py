"""The application core shared by node and coordinator: unit of work, message dispatch, handlers."""
