"""Registered formulas of the teacher-student topic (theory/teacher_student.py)."""
