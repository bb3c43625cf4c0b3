# The Airflow image for docker-compose.yaml: the official one plus what the plan reader needs.
# dags/, plugins/ (the transition package), and plan/ are mounted, not copied.
FROM apache/airflow:3.3.2-python3.11
COPY requirements-image.txt /requirements-image.txt
RUN pip install --no-cache-dir -r /requirements-image.txt
