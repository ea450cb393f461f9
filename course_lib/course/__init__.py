"""Running the course: grading a class and starting JupyterLab.

- ``grading``: ``release`` (solutions/ -> notebooks/ via nbgrader), ``grade`` (one autograde
  process per submission under a wall limit, so a student's hang or crash costs only that
  student), ``feedback``; ``python -m course_lib.course.grading --help``.
- ``lab``: ``python -m course_lib.course.lab``, JupyterLab rooted at the course and opening on
  ``notebooks/`` (what ``make lab`` runs).
"""
