"""The course's Policy as students really write it: each variant is the notebook's class with one change a student
makes, written the way students write it (``device``, ``torch.from_numpy(state).float().unsqueeze(0)``,
``Categorical``), plus the envs they pass and the course's evaluate loop seeded the way hubrl seeds it."""

import random

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.distributions import Categorical

import course_notebook_code
from course_notebook_code import device


class Policy(course_notebook_code.Policy):
    """The notebook's Policy, unchanged (sizes defaulted for CartPole)."""

    def __init__(self, s_size=4, a_size=2, h_size=16):
        super().__init__(s_size, a_size, h_size)


class RescalingPolicy(Policy):
    """act() rescales the state before forward (the network learned on scaled states)."""

    SCALE = np.array([2.4, 3.0, 0.21, 3.0])

    def act(self, state):
        state = torch.from_numpy(state / self.SCALE).float().unsqueeze(0).to(device)
        probs = self.forward(state).cpu()
        m = Categorical(probs)
        action = m.sample()
        return action.item(), m.log_prob(action)


class LogitsPolicy(Policy):
    """forward returns logits; act() samples Categorical(logits=...)."""

    def forward(self, x):
        return self.fc2(F.relu(self.fc1(x)))

    def act(self, state):
        state = torch.from_numpy(state).float().unsqueeze(0).to(device)
        m = Categorical(logits=self.forward(state).cpu())
        action = m.sample()
        return action.item(), m.log_prob(action)


class TanhPolicy(Policy):
    """torch.tanh in forward, no nn.Tanh module."""

    def forward(self, x):
        return F.softmax(self.fc2(torch.tanh(self.fc1(x))), dim=1)


class LeakyPolicy(LogitsPolicy):
    """F.leaky_relu with its own slope, two hidden layers, logits into Categorical."""

    def __init__(self):
        super().__init__(4, 2, 16)
        self.fc2 = nn.Linear(16, 32)
        self.fc3 = nn.Linear(32, 2)

    def forward(self, x):
        x = F.leaky_relu(self.fc1(x), 0.2)
        x = F.leaky_relu(self.fc2(x), 0.2)
        return self.fc3(x)


class EluPolicy(LogitsPolicy):
    """F.elu and log_softmax; act() samples from the log-probabilities (as logits)."""

    def forward(self, x):
        return F.log_softmax(self.fc2(F.elu(self.fc1(x))), dim=1)


class DoublePolicy(Policy):
    """The notebook's Policy made .double(); act() feeds it float64."""

    def act(self, state):
        state = torch.from_numpy(state).double().unsqueeze(0).to(device)
        probs = self.forward(state).cpu()
        m = Categorical(probs)
        action = m.sample()
        return action.item(), m.log_prob(action)


class NormedPolicy(Policy):
    """A layer the policy format cannot hold (LayerNorm)."""

    def __init__(self):
        super().__init__()
        self.norm = nn.LayerNorm(16)

    def forward(self, x):
        return F.softmax(self.fc2(F.relu(self.norm(self.fc1(x)))), dim=1)


class ScaledObservation(gym.ObservationWrapper):
    """A student's observation wrapper: the observation divided by rough scales."""

    def observation(self, observation):
        return (observation / np.array([2.4, 3.0, 0.21, 3.0])).astype(np.float32)


def make_student(cls, seed=0):
    """A fresh, untrained policy of ``cls`` with seeded weights (``.double()`` for DoublePolicy)."""
    torch.manual_seed(seed)
    model = cls()
    return model.double() if cls is DoublePolicy else model


def course_loop(env, max_steps, n_eval_episodes, policy, *, seeded=True):
    """The notebook's evaluate_agent (gymnasium API); ``seeded``: episode i reset with seed i and torch/numpy/random
    seeded with i before it, the loop hubrl.course.evaluate_agent runs (else as a student runs it, unseeded)."""
    episode_rewards = []
    for episode in range(n_eval_episodes):
        if seeded:
            torch.manual_seed(episode)
            np.random.seed(episode)
            random.seed(episode)
        state, _ = env.reset(seed=episode if seeded else None)
        total_rewards_ep = 0
        for step in range(max_steps):
            action, _ = policy.act(state)
            new_state, reward, terminated, truncated, info = env.step(action)
            total_rewards_ep += reward
            if terminated or truncated:
                break
            state = new_state
        episode_rewards.append(total_rewards_ep)
    return float(np.mean(episode_rewards)), float(np.std(episode_rewards))


def balance(model, k=20.0):
    """Set a fc1/fc2 policy's weights to a controller that keeps CartPole up (1000 steps and more)."""
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        w = torch.tensor([0.1, 0.5, 10.0, 2.0], dtype=model.fc1.weight.dtype)
        model.fc1.weight[0], model.fc1.weight[1] = k * w, -k * w
        model.fc2.weight[1, 0], model.fc2.weight[1, 1] = 1.0, -1.0
        model.fc2.weight[0, 0], model.fc2.weight[0, 1] = -1.0, 1.0
    return model
