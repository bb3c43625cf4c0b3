# The Airflow image for docker-compose.yaml: the official one plus what the plan reader needs.
# dags/, plugins/ (the transition package), and plan/ are mounted, not copied.
FROM apache/airflow:3.3.2-python3.11
# requirements-image.lock: requirements-image.txt locked with hashes (make image-lock); what Airflow
# itself depends on comes with the image, and pip check proves nothing is missing or at odds.
COPY requirements-image.lock /requirements-image.lock
RUN pip install --no-cache-dir --require-hashes --no-deps -r /requirements-image.lock \
    && pip check
