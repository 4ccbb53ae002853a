# Robot image: ROS 2 Jazzy + CUDA + onnxruntime-gpu. Build on a machine with Docker and an NVIDIA runtime:
#   docker build -f docker/Dockerfile.robot -t rstack:robot .
#   docker run --rm -it --net=host --gpus all --privileged -v /dev:/dev rstack:robot rstack up --profile robot
FROM nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04
ENV DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8
RUN apt-get update && apt-get install -y --no-install-recommends curl gnupg lsb-release python3-venv python3-pip make \
    && curl -sSL https://raw.githubusercontent.com/ros/rosdistro/master/ros.key -o /usr/share/keyrings/ros-archive-keyring.gpg \
    && echo "deb [signed-by=/usr/share/keyrings/ros-archive-keyring.gpg] http://packages.ros.org/ros2/ubuntu $(lsb_release -cs) main" \
       > /etc/apt/sources.list.d/ros2.list \
    && apt-get update && apt-get install -y --no-install-recommends ros-jazzy-ros-base ros-jazzy-diagnostic-msgs \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/rstack
COPY . .
# The setup sees the system rclpy (sourced) and installs no ROS wheels; onnxruntime-gpu instead of the CPU build.
RUN bash -c "source /opt/ros/jazzy/setup.bash && RSTACK_EXTRAS=gpu,dev bash docker/setup_host.sh /opt/rstack/.venv"
ENV PATH=/opt/rstack/.venv/bin:$PATH
ENTRYPOINT ["bash", "-c", "source /opt/ros/jazzy/setup.bash && exec \"$@\"", "--"]
CMD ["rstack", "doctor"]
