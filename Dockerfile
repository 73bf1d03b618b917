# cryptoflow's Airflow image: the official Airflow 3.3.2 image plus the pinned requirements and the project.
# Used by docker-compose.yaml (`docker compose build`); also runnable on its own (e.g. Kubernetes), since the
# DAGs, plugins and include files are baked in. Compose mounts the working tree over them for development.
FROM apache/airflow:3.3.2-python3.11

# The base image runs as the `airflow` user (uid 50000, gid 0) with /opt/airflow as the working directory;
# pip installs into that user's site-packages, which is the supported way to extend the image.
COPY --chown=airflow:root requirements.txt requirements.lock /opt/airflow/
# requirements.txt pins apache-airflow==3.3.2 and the providers; the lock (the fully resolved environment) is
# used as constraints so the image gets exactly the versions that were tested.
RUN pip install --no-cache-dir -r requirements.txt -c requirements.lock

COPY --chown=airflow:root plugins/ /opt/airflow/plugins/
COPY --chown=airflow:root include/ /opt/airflow/include/
COPY --chown=airflow:root dags/ /opt/airflow/dags/

# cryptoflow finds include/ (SQL, configs) through CRYPTOFLOW_HOME; PYTHONPATH makes `python -m cryptoflow.*`
# (migrations, trade stream) work outside Airflow, which puts plugins/ on sys.path by itself.
ENV CRYPTOFLOW_HOME=/opt/airflow \
    PYTHONPATH=/opt/airflow/plugins
