"""Running the course: grading a class, handing it out, presenting it, starting JupyterLab.

- ``grading``: ``release`` (solutions/ -> notebooks/ via nbgrader), ``grade`` (one autograde
  process per submission under a wall limit, ``--jobs`` of them at once, so a student's hang or
  crash costs only that student), ``feedback``; ``python -m course_lib.course.grading --help``.
- ``tamper``: the scan of each submission's answer cells for code that changes the grading.
- ``kit``: the student kit (``make student-kit``), the course without solutions/ or tests/.
- ``slides``: the slide layout of every chapter, reveal.js export (``make slides``) and
  ``prewarm`` before a talk.
- ``lab``: ``python -m course_lib.course.lab``, JupyterLab rooted at the course and opening on
  ``notebooks/`` (what ``make lab`` runs).
"""
