"""The Deep RL Course notebook's REINFORCE (Unit 4), as the notebook writes it: the reference to beat.

Per step: a torch forward pass on one state, a Categorical, a saved log-prob; per episode: returns built backwards in
a deque, standardised, loss = sum of -log_prob * return, one Adam step. Only the gym -> gymnasium API differs
(reset/step tuples), plus seeding and a callback so a benchmark can verify the policy from outside.
"""

from __future__ import annotations

import time
from collections import deque

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn, optim
from torch.distributions import Categorical


class Policy(nn.Module):
    def __init__(self, s_size, a_size, h_size):
        super().__init__()
        self.fc1 = nn.Linear(s_size, h_size)
        self.fc2 = nn.Linear(h_size, a_size)

    def forward(self, x):
        x = F.relu(self.fc1(x))
        x = self.fc2(x)
        return F.softmax(x, dim=1)

    def act(self, state):
        state = torch.from_numpy(state).float().unsqueeze(0)
        probs = self.forward(state).cpu()
        m = Categorical(probs)
        action = m.sample()
        return action.item(), m.log_prob(action)


def reinforce(policy, optimizer, env, n_training_episodes, max_t, gamma, *, seed=0, callback=None):
    """The notebook's training loop. ``callback(i_episode, score, policy)`` returning True stops it.

    Returns the training seconds, excluding the time spent in the callback.
    """
    started = time.perf_counter()
    excluded = 0.0
    scores_deque = deque(maxlen=100)
    for i_episode in range(1, n_training_episodes + 1):
        saved_log_probs = []
        rewards = []
        state, _ = env.reset(seed=seed if i_episode == 1 else None)
        for t in range(max_t):
            action, log_prob = policy.act(state)
            saved_log_probs.append(log_prob)
            state, reward, terminated, truncated, _ = env.step(action)
            rewards.append(reward)
            if terminated or truncated:
                break
        scores_deque.append(sum(rewards))
        returns = deque(maxlen=max_t)
        n_steps = len(rewards)
        for t in range(n_steps)[::-1]:
            disc_return_t = returns[0] if len(returns) > 0 else 0
            returns.appendleft(gamma * disc_return_t + rewards[t])
        eps = np.finfo(np.float32).eps.item()
        returns = torch.tensor(returns)
        returns = (returns - returns.mean()) / (returns.std() + eps)
        policy_loss = []
        for log_prob, disc_return in zip(saved_log_probs, returns):
            policy_loss.append(-log_prob * disc_return)
        policy_loss = torch.cat(policy_loss).sum()
        optimizer.zero_grad()
        policy_loss.backward()
        optimizer.step()
        if callback is not None:
            t0 = time.perf_counter()
            stop = callback(i_episode, sum(rewards), policy)
            excluded += time.perf_counter() - t0
            if stop:
                break
    return time.perf_counter() - started - excluded, i_episode


def train_cartpole(seed: int, callback=None, n_training_episodes: int = 1000):
    """The notebook's CartPole-v1 hyperparameters: h_size 16, 1000 episodes, max_t 1000, gamma 1.0, lr 1e-2."""
    torch.manual_seed(seed)
    env = gym.make("CartPole-v1")
    policy = Policy(4, 2, 16)
    optimizer = optim.Adam(policy.parameters(), lr=1e-2)
    return reinforce(policy, optimizer, env, n_training_episodes, 1000, 1.0, seed=seed, callback=callback)
